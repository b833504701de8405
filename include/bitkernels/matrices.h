/*
 * bitkernels/matrices.h — ternary (BitNet b1.58) and binary matrices: the packed layout every
 * ternary variant reads, token quantization, and the threaded matrix products.
 */
#ifndef BITKERNELS_MATRICES_H
#define BITKERNELS_MATRICES_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Ternary (BitNet b1.58) and binary matrices
 *
 * Packed ternary layout (the one every variant reads): each row of `cols` weights in {-1, 0, +1}
 * is cut into blocks of 256 (the last one padded with zeros); a block is 64 bytes, and byte j
 * holds weights j, j+64, j+128, j+192 of the block in bit pairs 0-1, 2-3, 4-5, 6-7 as the code
 * w + 1 (0 → -1, 1 → 0, 2 → +1; 3 never occurs). So a 16-, 32- or 64-byte load of the block
 * with one shift and mask yields codes that line up with contiguous activations. 2 bits per
 * weight. Rows are stored in groups of four, block by block, so that a four-row GEMV tile reads one
 * contiguous stream (the hardware prefetchers follow one stream well and four badly): block b of
 * row r is the 64 bytes at bk_ternary_block_offset(block_count, r, b). A last group of fewer than
 * four rows still takes four slots (bk_ternary_packed_bytes); the unused ones are never read.
 *
 * Example: a row whose first weights are w[0] = +1, w[64] = -1, w[128] = 0, w[192] = +1 has
 *   byte 0 of block 0 = 2 | 0 << 2 | 1 << 4 | 2 << 6 = 0x92,
 * and an all-zero block is 64 bytes of 0x55.
 *
 * Products are exact in int32 for any int8 activations while cols < 2^24 / 2.
 * ------------------------------------------------------------------------------------------- */

#define BK_TERNARY_BLOCK 256
#define BK_TERNARY_BLOCK_BYTES 64

/* Blocks per packed row: ceil(cols / 256). */
size_t bk_ternary_block_count(size_t cols);

/* Bytes of a packed rows × cols matrix: rows rounded up to a multiple of four, times the row. */
size_t bk_ternary_packed_bytes(size_t rows, size_t cols);

/* Where block b of row r starts in a packed matrix of block_count blocks per row. */
static inline size_t bk_ternary_block_offset(size_t block_count, size_t r, size_t b) {
    return ((r / 4) * block_count + b) * (4 * BK_TERNARY_BLOCK_BYTES) + (r % 4) * BK_TERNARY_BLOCK_BYTES;
}

/* Packs rows × cols values in {-1, 0, +1} (row-major, w[r * cols + c]) into `packed`, which must
 * hold bk_ternary_packed_bytes(rows, cols) bytes (all are written). Returns -1, or the index of
 * the first value outside {-1, 0, +1} (then `packed` is unspecified). */
int64_t bk_ternary_pack(const int8_t *w, size_t rows, size_t cols, uint8_t *packed);

/* The inverse of bk_ternary_pack. Returns -1, or the flat index of the first code 3 (corrupt). */
int64_t bk_ternary_unpack(const uint8_t *packed, size_t rows, size_t cols, int8_t *w);

/* Absmean ternarization (BitNet b1.58, as transformers' weight_quant): scale = max(mean|W|, 1e-5)
 * over the whole matrix, or over each row when per_row; w = clamp(round_half_even(W / scale),
 * -1, 1) computed as W * (1 / scale). scales gets 1 value, or `rows` values when per_row. */
void bk_ternarize_absmean(const float *w, size_t rows, size_t cols, bool per_row, int8_t *out,
                          float *scales);

/* Quantizes token_count tokens of `cols` floats (token t at x + t * x_stride) into int8 rows of
 * q_stride bytes (zero-filled from cols to q_stride), with scales[t] and sums[t] as
 * bk_kernels.quantize_token gives them. */
void bk_quantize_tokens(const bk_kernels *k, const float *x, size_t x_stride, size_t cols,
                        size_t token_count, int8_t *q, size_t q_stride, float *scales,
                        int32_t *sums);

/* Whether all `count` floats are finite (no NaN, no infinity): one pass with k's vector width. */
bool bk_floats_finite(const bk_kernels *k, const float *x, size_t count);

typedef struct bk_ternary_matrix {
    const uint8_t *packed; /* bk_ternary_packed_bytes(rows, cols) bytes, layout above */
    size_t rows, cols, block_count;
    const float *row_scales; /* one scale per row */
} bk_ternary_matrix;

/* Integer products of every row with every token (tokens as ternary_matmul takes them),
 * out[t * out_stride + r]; rows shared among `threads` OpenMP threads (0 = default). */
void bk_ternary_matmul_i32(const bk_kernels *k, const bk_ternary_matrix *w, const int8_t *x,
                           size_t x_stride, const int32_t *x_sums, size_t token_count,
                           int32_t *out, size_t out_stride, int threads);

/* Stream-prefetch distance: how far ahead (bytes) the x86 ternary kernels prefetch
 * their weight stream, and the AVX-512 scan of short bit rows (scoring, winner search) its row
 * stream; 0 = none. Chosen once per CPU (bk_stream_prefetch_default_distance);
 * bk_stream_prefetch_set_distance changes it for the process (the tuner's sweeps; values are
 * rounded down to 256 and capped at 64 KiB). */
size_t bk_stream_prefetch_distance(void);
size_t bk_stream_prefetch_default_distance(void);
void bk_stream_prefetch_set_distance(size_t bytes);

/* Whether the AVX-512 variant's eight-token GEMM tile decodes the weights with GFNI
 * (GF2P8AFFINEQB) instead of shifts: true by default when the CPU has GFNI. Turning it off (tests,
 * benchmarks) selects the shift decode; turning it on without GFNI leaves it off. Same products. */
bool bk_ternary_gfni_decode(void);
void bk_ternary_set_gfni_decode(bool on);

/* y[t * y_stride + r] = (float)Σ_k W[r,k] x_t[k] · (row_scales[r] / x_scales[t]): the BitLinear
 * output for tokens quantized by bk_quantize_tokens. */
void bk_ternary_matmul_f32(const bk_kernels *k, const bk_ternary_matrix *w, const int8_t *x,
                           size_t x_stride, const int32_t *x_sums, const float *x_scales,
                           size_t token_count, float *y, size_t y_stride, int threads);

/* Binary (±1) products through the bit-vector kernels: with bit 1 = +1 and bit 0 = -1, the dot
 * of two width-bit vectors is width - 2 |a XOR b| = 4 |a AND b| - 2 |a| - 2 |b| + width.
 * out[t * out_stride + r] for every row r of `rows` (row_popcounts required) and every token t
 * (token_count tokens of rows->word_count words at tokens + t * token_stride_words), all
 * vectors `width` bits with zero padding. Rows are scanned in cache-sized blocks, each reused by
 * every token. */
void bk_binary_matmul(const bk_kernels *k, const bk_rows *rows, size_t width,
                      const uint64_t *tokens, size_t token_stride_words, size_t token_count,
                      int32_t *out, size_t out_stride, int threads);

/* Float products of a bf16 matrix (an LM head, an embedding) or an int8 matrix with per-row
 * scales and a float vector, rows shared among `threads` OpenMP threads. */
void bk_bf16_matvec(const bk_kernels *k, const uint16_t *rows, size_t stride, size_t n,
                    size_t row_count, const float *x, float *out, int threads);
/* The bf16 products of token_count vectors (token t at x + t * x_stride) into out + t *
 * out_stride, each row read once for every token; the same bits as bk_bf16_matvec per token. */
void bk_bf16_matmul(const bk_kernels *k, const uint16_t *rows, size_t stride, size_t n, size_t row_count,
                    const float *x, size_t x_stride, size_t token_count, float *out, size_t out_stride,
                    int threads);
void bk_i8_matvec(const bk_kernels *k, const int8_t *rows, size_t stride, size_t n,
                  size_t row_count, const float *row_scales, const float *x, float *out,
                  int threads);

#ifdef __cplusplus
}
#endif
#endif /* BITKERNELS_MATRICES_H */
