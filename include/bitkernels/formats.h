/*
 * bitkernels/formats.h — model file formats of ternary weights (GGUF TQ2_0/TQ1_0, bitnet.cpp's
 * I2_S, the Hugging Face BitNet checkpoint) and the fp16/bf16 scalars they store. Load-time
 * conversions, scalar only.
 */
#ifndef BITKERNELS_FORMATS_H
#define BITKERNELS_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * GGUF and checkpoint formats of ternary weights (load-time conversions, scalar)
 *
 * TQ2_0 (llama.cpp): blocks of 256 weights, 66 bytes: qs[64] then fp16 d. Within each half of
 *   128 weights, qs byte m holds weights m, m+32, m+64, m+96 in bit pairs 0-1 .. 6-7 as w + 1.
 *   Value = d · w; d = the block's max |value| (0 for an all-zero block).
 * TQ1_0 (llama.cpp): blocks of 256, 54 bytes: qs[48], qh[4], fp16 d; base-3 digits, 5 per byte
 *   in qs (weights m + 32n for bytes 0..31 and 160 + m + 16n for bytes 32..47, n = 0..4, first
 *   digit most significant) and 4 per byte in qh (240 + j + 4n), each byte stored as
 *   ceil(v · 256 / 243) so that digit n is ((byte · 3^n mod 256) · 3) >> 8.
 * I2_S (bitnet.cpp, x86): the whole tensor in groups of 128 weights, 32 bytes each: byte m holds
 *   weights m, m+32, m+64, m+96 in bit pairs 6-7, 4-5, 2-3, 0-1 as w + 1; then one float32 scale
 *   and 28 unused bytes (the tensor is rows·cols/4 + 32 bytes). Code 3 is rejected as corrupt.
 * Hugging Face BitNet checkpoint: uint8 [rows/4, cols]; byte [r, c] holds W[i·rows/4 + r, c] in
 *   bit pair i as w + 1 (the packing runs along the output dimension).
 * Decoders return -1, or the flat weight index of the first invalid code. Scales are per block
 * (TQ*) or per tensor (I2_S).
 * ------------------------------------------------------------------------------------------- */

#define BK_TQ2_0_BLOCK_BYTES 66
#define BK_TQ1_0_BLOCK_BYTES 54

/* cols must be a multiple of 256 for TQ*_0; I2_S needs rows*cols to be a multiple of 128, the
 * HF layout rows to be a multiple of 4. */
void bk_tq2_0_encode(const int8_t *w, const float *row_scales, size_t rows, size_t cols,
                     uint8_t *out);
int64_t bk_tq2_0_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w,
                        float *block_scales);
void bk_tq1_0_encode(const int8_t *w, const float *row_scales, size_t rows, size_t cols,
                     uint8_t *out);
int64_t bk_tq1_0_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w,
                        float *block_scales);
/* Bytes of an I2_S tensor: rows·cols/4 packed, then the float32 scale in a 32-byte tail. */
size_t bk_i2_s_size(size_t rows, size_t cols);
void bk_i2_s_encode(const int8_t *w, float scale, size_t rows, size_t cols, uint8_t *out);
int64_t bk_i2_s_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w, float *scale);
void bk_hf_bitnet_encode(const int8_t *w, size_t rows, size_t cols, uint8_t *out);
int64_t bk_hf_bitnet_decode(const uint8_t *in, size_t rows, size_t cols, int8_t *w);

/* IEEE half and bfloat16 conversions (round to nearest even), as the formats store scales. */
float bk_f16_to_f32(uint16_t h);
uint16_t bk_f32_to_f16(float f);
float bk_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif /* BITKERNELS_FORMATS_H */
