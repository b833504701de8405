/* ternary_formats.c — conversions between {-1, 0, +1} weights and the layouts they are stored in:
 * BitKernels' packed layout, llama.cpp's TQ2_0 and TQ1_0, bitnet.cpp's I2_S and the Hugging Face
 * BitNet checkpoint (described in bitkernels/matrices.h and bitkernels/formats.h). They run once
 * per tensor at load time, so they are scalar and written for clarity; the GEMV reads only the
 * packed layout. */
#include "bk_internal.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Half precision
 * ------------------------------------------------------------------------------------------- */

float bk_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13); /* inf, NaN */
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else { /* zero or subnormal: mantissa · 2^-24 exactly */
        const float v = (float)mantissa * 0x1p-24f;
        memcpy(&bits, &v, sizeof bits);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t bk_f32_to_f16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    const uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00; /* NaN */
    if (abs >= 0x477ff000u) return sign | 0x7c00; /* rounds to >= 65520: infinity */
    if (abs < 0x38800000u) {                      /* below 2^-14: subnormal half */
        float a;
        memcpy(&a, &abs, sizeof a);
        return sign | (uint16_t)lrintf(a * 0x1p24f); /* exact multiple of 2^-24, ties to even */
    }
    /* Normal: drop 13 mantissa bits with round to nearest even (a carry may bump the exponent). */
    const uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);
    return sign | (uint16_t)((rounded - 0x38000000u) >> 13);
}

float bk_bf16_to_f32(uint16_t h) {
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---------------------------------------------------------------------------------------------
 * BitKernels' packed layout
 * ------------------------------------------------------------------------------------------- */

size_t bk_ternary_block_count(size_t cols) { return (cols + BK_TERNARY_BLOCK - 1) / BK_TERNARY_BLOCK; }

size_t bk_ternary_packed_bytes(size_t rows, size_t cols) {
    return (rows + 3) / 4 * 4 * bk_ternary_block_count(cols) * BK_TERNARY_BLOCK_BYTES;
}

/* Plane by plane over each row's blocks, so that every inner loop is a plain vectorizable pass
 * (training re-packs every matrix after every step); a value outside {-1, 0, +1} is then found
 * by a second, element-wise scan. */
int64_t bk_ternary_pack(const int8_t *w, size_t rows, size_t cols, uint8_t *packed) {
    const size_t blocks = bk_ternary_block_count(cols);
    memset(packed, 0x55, bk_ternary_packed_bytes(rows, cols)); /* code 1 (weight 0): the padding */
    unsigned invalid = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < blocks; b++) {
            uint8_t *dst = packed + bk_ternary_block_offset(blocks, r, b);
            const int8_t *src = w + r * cols + b * BK_TERNARY_BLOCK;
            const size_t n = cols - b * BK_TERNARY_BLOCK < BK_TERNARY_BLOCK ? cols - b * BK_TERNARY_BLOCK : BK_TERNARY_BLOCK;
            for (int p = 0; p < 4; p++) {
                const size_t limit = n <= (size_t)64 * p ? 0 : n - (size_t)64 * p < 64 ? n - (size_t)64 * p : 64;
                const uint8_t keep = (uint8_t)~(3u << (2 * p));
                for (size_t j = 0; j < limit; j++) {
                    const uint8_t u = (uint8_t)(src[64 * p + j] + 1);
                    invalid |= u > 2;
                    dst[j] = (uint8_t)((dst[j] & keep) | (uint8_t)((u & 3) << (2 * p)));
                }
            }
        }
    if (!invalid) return -1;
    for (size_t i = 0; i < rows * cols; i++)
        if (w[i] < -1 || w[i] > 1) return (int64_t)i;
    return -1; /* unreachable */
}

int64_t bk_ternary_unpack(const uint8_t *packed, size_t rows, size_t cols, int8_t *w) {
    const size_t blocks = bk_ternary_block_count(cols);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            const size_t in_block = c % BK_TERNARY_BLOCK;
            const int code = (packed[bk_ternary_block_offset(blocks, r, c / BK_TERNARY_BLOCK) + in_block % 64] >>
                              (2 * (in_block / 64))) & 3;
            if (code == 3) return (int64_t)(r * cols + c);
            w[r * cols + c] = (int8_t)(code - 1);
        }
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * llama.cpp TQ2_0 and TQ1_0
 * ------------------------------------------------------------------------------------------- */

/* The block's d as llama.cpp's quantizer writes it: max |value| (0 when all weights are 0). */
static uint16_t block_d(const int8_t *w, float scale) {
    for (size_t i = 0; i < BK_TERNARY_BLOCK; i++)
        if (w[i] != 0) return bk_f32_to_f16(fabsf(scale));
    return bk_f32_to_f16(0.0f);
}

static void store_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void bk_tq2_0_encode(const int8_t *w, const float *row_scales, size_t rows, size_t cols,
                     uint8_t *out) {
    const size_t blocks = cols / BK_TERNARY_BLOCK;
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < blocks; b++) {
            const int8_t *src = w + r * cols + b * BK_TERNARY_BLOCK;
            uint8_t *dst = out + (r * blocks + b) * BK_TQ2_0_BLOCK_BYTES;
            for (size_t half = 0; half < 2; half++)
                for (size_t m = 0; m < 32; m++) {
                    uint8_t byte = 0;
                    for (size_t n = 0; n < 4; n++)
                        byte |= (uint8_t)((src[half * 128 + m + 32 * n] + 1) << (2 * n));
                    dst[half * 32 + m] = byte;
                }
            store_u16(dst + 64, block_d(src, row_scales[r]));
        }
}

int64_t bk_tq2_0_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w,
                        float *block_scales) {
    const size_t blocks = cols / BK_TERNARY_BLOCK;
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *src = in + (r * blocks + b) * BK_TQ2_0_BLOCK_BYTES;
            int8_t *dst = w + r * cols + b * BK_TERNARY_BLOCK;
            for (size_t half = 0; half < 2; half++)
                for (size_t m = 0; m < 32; m++)
                    for (size_t n = 0; n < 4; n++) {
                        const int code = (src[half * 32 + m] >> (2 * n)) & 3;
                        const size_t i = half * 128 + m + 32 * n;
                        if (code == 3) return (int64_t)(r * cols + b * BK_TERNARY_BLOCK + i);
                        dst[i] = (int8_t)(code - 1);
                    }
            block_scales[r * blocks + b] = bk_f16_to_f32(load_u16(src + 64));
        }
    return -1;
}

/* TQ1_0 stores k base-3 digits (first most significant) as ceil(v · 256 / 243) for 5 digits, or
 * the 4-digit value times 3 the same way, so digit n comes out as ((byte · 3^n) mod 256 · 3) >> 8:
 * the byte is a fixed-point fraction v / 243 whose digits shift up with each multiply by 3. */
static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};

static uint8_t tq1_byte(const int8_t *src, size_t first, size_t step, int digits) {
    unsigned v = 0;
    for (int n = 0; n < digits; n++) v = v * 3 + (unsigned)(src[first + step * (size_t)n] + 1);
    if (digits == 4) v *= 3;
    return (uint8_t)((v * 256 + 242) / 243);
}

static int tq1_digit(uint8_t byte, int n) { return ((uint8_t)(byte * pow3[n]) * 3) >> 8; }

/* Where TQ1_0's 52 bytes put the 256 weights: bytes 0..31 hold 5 weights m + 32n, bytes 32..47
 * hold 160 + m + 16n, bytes 48..51 (qh) hold 4 weights 240 + m + 4n. */
static void tq1_slot(size_t byte, size_t *first, size_t *step, int *digits) {
    if (byte < 32) *first = byte, *step = 32, *digits = 5;
    else if (byte < 48) *first = 160 + (byte - 32), *step = 16, *digits = 5;
    else *first = 240 + (byte - 48), *step = 4, *digits = 4;
}

void bk_tq1_0_encode(const int8_t *w, const float *row_scales, size_t rows, size_t cols,
                     uint8_t *out) {
    const size_t blocks = cols / BK_TERNARY_BLOCK;
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < blocks; b++) {
            const int8_t *src = w + r * cols + b * BK_TERNARY_BLOCK;
            uint8_t *dst = out + (r * blocks + b) * BK_TQ1_0_BLOCK_BYTES;
            for (size_t byte = 0; byte < 52; byte++) {
                size_t first, step;
                int digits;
                tq1_slot(byte, &first, &step, &digits);
                dst[byte] = tq1_byte(src, first, step, digits);
            }
            store_u16(dst + 52, block_d(src, row_scales[r]));
        }
}

int64_t bk_tq1_0_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w,
                        float *block_scales) {
    const size_t blocks = cols / BK_TERNARY_BLOCK;
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *src = in + (r * blocks + b) * BK_TQ1_0_BLOCK_BYTES;
            int8_t *dst = w + r * cols + b * BK_TERNARY_BLOCK;
            for (size_t byte = 0; byte < 52; byte++) {
                size_t first, step;
                int digits;
                tq1_slot(byte, &first, &step, &digits);
                /* A byte is valid when re-encoding its digits gives it back. */
                int8_t values[5];
                for (int n = 0; n < digits; n++) values[n] = (int8_t)(tq1_digit(src[byte], n) - 1);
                if (tq1_byte(values, 0, 1, digits) != src[byte])
                    return (int64_t)(r * cols + b * BK_TERNARY_BLOCK + first);
                for (int n = 0; n < digits; n++) dst[first + step * (size_t)n] = values[n];
            }
            block_scales[r * blocks + b] = bk_f16_to_f32(load_u16(src + 52));
        }
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * bitnet.cpp I2_S (x86 layout: groups of 128)
 * ------------------------------------------------------------------------------------------- */

/* bitnet.cpp reserves 32 bytes after the packed codes (ggml_nbytes = n / 4 + 32); the scale takes 4. */
size_t bk_i2_s_size(size_t rows, size_t cols) { return rows * cols / 4 + 32; }

void bk_i2_s_encode(const int8_t *w, float scale, size_t rows, size_t cols, uint8_t *out) {
    const size_t n = rows * cols;
    memset(out, 0, bk_i2_s_size(rows, cols));
    for (size_t i = 0; i < n; i++) {
        const size_t group = i / 128, pos = i % 128;
        out[group * 32 + pos % 32] |= (uint8_t)((w[i] + 1) << (6 - 2 * (pos / 32)));
    }
    memcpy(out + n / 4, &scale, sizeof scale);
}

int64_t bk_i2_s_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w, float *scale) {
    const size_t n = rows * cols;
    for (size_t i = 0; i < n; i++) {
        const size_t group = i / 128, pos = i % 128;
        const int code = (in[group * 32 + pos % 32] >> (6 - 2 * (pos / 32))) & 3;
        if (code == 3) return (int64_t)i;
        w[i] = (int8_t)(code - 1);
    }
    memcpy(scale, in + n / 4, sizeof *scale);
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Hugging Face BitNet checkpoint (transformers pack_weights)
 * ------------------------------------------------------------------------------------------- */

void bk_hf_bitnet_encode(const int8_t *w, size_t rows, size_t cols, uint8_t *out) {
    const size_t quarter = rows / 4;
    for (size_t r = 0; r < quarter; r++)
        for (size_t c = 0; c < cols; c++) {
            uint8_t byte = 0;
            for (size_t i = 0; i < 4; i++) byte |= (uint8_t)((w[(i * quarter + r) * cols + c] + 1) << (2 * i));
            out[r * cols + c] = byte;
        }
}

int64_t bk_hf_bitnet_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w) {
    const size_t quarter = rows / 4;
    for (size_t r = 0; r < quarter; r++)
        for (size_t c = 0; c < cols; c++)
            for (size_t i = 0; i < 4; i++) {
                const int code = (in[r * cols + c] >> (2 * i)) & 3;
                const size_t index = (i * quarter + r) * cols + c;
                if (code == 3) return (int64_t)index;
                w[index] = (int8_t)(code - 1);
            }
    return -1;
}
