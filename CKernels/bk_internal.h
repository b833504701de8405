/* bk_internal.h — what the kernel files share: architecture switches, target regions, and the
 * declarations of every variant (the dispatch tables in dispatch.c are built from them). */
#ifndef BK_INTERNAL_H
#define BK_INTERNAL_H

#include "bitkernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define BK_X86 1
#include <immintrin.h>
#else
#define BK_X86 0
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#define BK_AARCH64 1
#include <arm_neon.h>
#else
#define BK_AARCH64 0
#endif

#define BK_INLINE static inline __attribute__((always_inline))

/* Target regions: every function between a BK_TARGET_* and BK_UNTARGET is compiled for that ISA,
 * so one binary holds all variants and the dispatcher decides at run time which may run. */
// clang-format off
#define BK_TARGET_POPCNT _Pragma("clang attribute push(__attribute__((target(\"popcnt\"))), apply_to = function)")
#define BK_TARGET_AVX2 _Pragma("clang attribute push(__attribute__((target(\"avx2,bmi2,popcnt,fma\"))), apply_to = function)")
#define BK_TARGET_AVX512 _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx512vnni,avx2,bmi2,popcnt,fma\"))), apply_to = function)")
/* AVX-512 plus GFNI (GF2P8AFFINEQB on zmm): a region of its own, entered only when CPUID has both. */
#define BK_TARGET_AVX512_GFNI _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx512vnni,gfni,avx2,bmi2,popcnt,fma\"))), apply_to = function)")
#define BK_TARGET_AVXVNNI _Pragma("clang attribute push(__attribute__((target(\"avxvnni,avx2,bmi2,popcnt,fma\"))), apply_to = function)")
// clang-format on
#define BK_UNTARGET _Pragma("clang attribute pop")
/* SDOT (aarch64), one function at a time: GCC accepts only the spelled-out architecture. */
#define BK_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

/* Whether the plain C loops around a table's kernels (block reductions, conversions; compiled
 * once portably and once in a BK_TARGET_AVX2 region) may take their AVX2 copy. It follows the
 * table, not the CPU, so a forced scalar table runs no AVX code. */
BK_INLINE bool bk_table_has_avx2(const bk_kernels *k) {
    return BK_X86 && (k->isa == BK_ISA_AVX2 || k->isa == BK_ISA_AVXVNNI || k->isa == BK_ISA_AVX512);
}

/* The variants. One signature per kernel, so a table can hold them. */
#define BK_DECLARE_VARIANTS(isa)                                                                   \
    uint64_t bk_popcount_##isa(const uint64_t *words, size_t word_count);                          \
    bk_pair_counts bk_pair_counts_##isa(const uint64_t *a, const uint64_t *b, size_t word_count);  \
    void bk_and_counts_##isa(const uint64_t *query, const uint64_t *rows, size_t stride_words,     \
                             size_t word_count, size_t row_count, uint32_t *out);                  \
    void bk_row_popcounts_##isa(const uint64_t *rows, size_t stride_words, size_t word_count,      \
                                size_t row_count, uint32_t *out);                                  \
    void bk_masked_flip_##isa(uint64_t *cur, const uint64_t *target, const uint64_t *mask,         \
                              size_t word_count);                                                  \
    void bk_random_bits_##isa(bk_rng *rng, uint64_t *out, size_t word_count, uint32_t threshold); \
    float bk_quantize_token_##isa(const float *x, size_t count, int8_t *q, int32_t *sum);          \
    void bk_ternary_matmul_##isa(const uint8_t *packed, size_t block_count, size_t row_count,      \
                                 const int8_t *x, size_t x_stride, const int32_t *x_sums,          \
                                 size_t token_count, int32_t *out, size_t out_stride);            \
    void bk_bf16_dots_##isa(const uint16_t *rows, size_t stride, size_t n, size_t row_count,       \
                            const float *x, float *out);                                           \
    void bk_bf16_dots_tokens_##isa(const uint16_t *rows, size_t stride, size_t n, size_t row_count, \
                                   const float *x, size_t x_stride, size_t token_count, float *out, \
                                   size_t out_stride);                                             \
    void bk_i8_dots_##isa(const int8_t *rows, size_t stride, size_t n, size_t row_count,           \
                          const float *x, float *out);                                             \
    void bk_encode_threshold_##isa(const uint8_t *p, size_t n, uint8_t level, uint64_t *out);      \
    void bk_encode_rank_##isa(const uint8_t *p, size_t n, size_t k, uint64_t *out);              \
    float bk_rmsnorm_##isa(const float *x, const float *w, size_t n, float eps, float *y);         \
    void bk_rmsnorm_backward_##isa(const float *x, const float *w, const float *g, float r,        \
                                   size_t n, bool accumulate, float *dx);                          \
    void bk_rmsnorm_weight_sums_##isa(const float *x, const float *g, size_t stride,               \
                                      const float *r, size_t tokens, size_t width, double *acc);   \
    double bk_sum_squares_##isa(const float *x, size_t n);                                         \
    void bk_adamw_update_##isa(float *w, const float *g, float *m, float *v, size_t n,             \
                               const bk_adamw_step *k);                                            \
    size_t bk_requantize_##isa(const float *w, size_t n, bool binary, const int8_t *previous,      \
                               int8_t *codes, float *dequantized, float *scale, float *centre);    \
    void bk_softmax_row_##isa(float *row, size_t last, size_t count);                              \
    void bk_relu2_times_##isa(const float *g, const float *u, float *m, size_t n);                 \
    void bk_relu2_backward_##isa(const float *g, const float *u, const float *dm, float *dg,       \
                                 float *du, size_t n);                                             \
    void bk_dequantize_token_##isa(const int8_t *q, size_t n, float s, float *out);               \
    void bk_rope_rotate_##isa(float *x, size_t heads, size_t d, const float *cos, const float *sin, \
                              bool inverse);                                                       \
    void bk_attention_token_##isa(const float *q, const float *keys, const float *values,         \
                                  size_t positions, size_t stride, size_t d, float scale,         \
                                  float *scores, float *out);

/* rank_blur.c: the scalar reference, AVX2 (also in the AVX-VNNI table) and AVX-512; NEON takes
 * the scalar one. */
void bk_encode_rank_blur_scalar(const uint8_t *p, size_t rows, size_t cols, size_t k, uint16_t *scratch,
                                uint64_t *out);
#if BK_X86
void bk_encode_rank_blur_avx2(const uint8_t *p, size_t rows, size_t cols, size_t k, uint16_t *scratch,
                              uint64_t *out);
void bk_encode_rank_blur_avx512(const uint8_t *p, size_t rows, size_t cols, size_t k, uint16_t *scratch,
                                uint64_t *out);
#endif

BK_DECLARE_VARIANTS(scalar)
#if BK_X86
BK_DECLARE_VARIANTS(avx2)
BK_DECLARE_VARIANTS(avx512)
/* The AVX-512 product when the caller knows how many planes of the last block hold columns. */
void bk_ternary_matmul_planes_avx512(const uint8_t *packed, size_t block_count, int last_planes,
                                     size_t row_count, const int8_t *x, size_t x_stride,
                                     const int32_t *x_sums, size_t token_count, int32_t *out,
                                     size_t out_stride);
/* The same with float products times factors[t] written in the tiles; false (nothing written) when
 * the shape does not take that path. */
bool bk_ternary_matmul_planes_f32_avx512(const uint8_t *packed, size_t block_count, int last_planes,
                                         size_t row_count, const int8_t *x, size_t x_stride,
                                         const int32_t *x_sums, const float *factors, size_t token_count,
                                         float *y, size_t y_stride);
/* AVX-VNNI reuses the AVX2 table except for the entries declared here. */
void bk_ternary_matmul_avxvnni(const uint8_t *packed, size_t block_count, size_t row_count,
                               const int8_t *x, size_t x_stride, const int32_t *x_sums,
                               size_t token_count, int32_t *out, size_t out_stride);
#endif
#if BK_AARCH64
BK_DECLARE_VARIANTS(neon)
#endif

#endif
