/* float_gemv.c — float products of bf16 or int8 rows with a float vector: the LM head and
 * embedding-sized matrices that stay in float.
 *
 * Float sums depend on their order, so the order is part of the specification and every variant
 * follows it, which keeps the variants bit-identical to the scalar reference: element i goes into
 * lane i % 16 by a fused multiply-add; the 16 lanes are then folded in halves (lane j += lane
 * j + 8, then + 4, + 2, + 1); the last n % 16 elements are added one by one with fused
 * multiply-adds. AVX-512 holds the 16 lanes in one register, AVX2 in two, NEON in four. */
#include "bk_internal.h"
#include "bk_omp.h"

#include <math.h>
#include <string.h>

BK_INLINE float bf16_value(uint16_t h) {
    union { uint32_t u; float f; } v = {.u = (uint32_t)h << 16};
    return v.f;
}

BK_INLINE float fold16(float s[16]) {
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) s[j] += s[j + w];
    return s[0];
}

/* The specification. Row r of weights starts at rows + r * stride (elements). */
#define BK_REF_DOT(name, type, convert)                                                            \
    static float name(const type *w, const float *x, size_t n) {                                   \
        float s[16] = {0};                                                                         \
        size_t i = 0;                                                                              \
        for (; i + 16 <= n; i += 16)                                                               \
            for (int j = 0; j < 16; j++) s[j] = fmaf(convert(w[i + j]), x[i + j], s[j]);           \
        float r = fold16(s);                                                                       \
        for (; i < n; i++) r = fmaf(convert(w[i]), x[i], r);                                       \
        return r;                                                                                  \
    }
#define BK_I8_VALUE(v) ((float)(v))
BK_REF_DOT(dot_bf16_ref, uint16_t, bf16_value)
BK_REF_DOT(dot_i8_ref, int8_t, BK_I8_VALUE)

void bk_bf16_dots_scalar(const uint16_t *rows, size_t stride, size_t n, size_t row_count,
                         const float *x, float *out) {
    for (size_t r = 0; r < row_count; r++) out[r] = dot_bf16_ref(rows + r * stride, x, n);
}

/* Several tokens: out[t * out_stride + r] = the bf16_dots value of row r with token t's vector
 * (x + t * x_stride), bit for bit. The reference and the fallback of ISAs without a variant of
 * their own (NEON): rows in blocks small enough to stay in L2 while every token reads them. */
#define BK_TOKENS_VIA_DOTS(name, dots)                                                             \
    void name(const uint16_t *rows, size_t stride, size_t n, size_t row_count, const float *x,    \
              size_t x_stride, size_t token_count, float *out, size_t out_stride) {                \
        const size_t block = 64;                                                                   \
        for (size_t b = 0; b < row_count; b += block) {                                            \
            const size_t count = row_count - b < block ? row_count - b : block;                    \
            for (size_t t = 0; t < token_count; t++)                                               \
                dots(rows + b * stride, stride, n, count, x + t * x_stride, out + t * out_stride + b); \
        }                                                                                          \
    }
BK_TOKENS_VIA_DOTS(bk_bf16_dots_tokens_scalar, bk_bf16_dots_scalar)

void bk_i8_dots_scalar(const int8_t *rows, size_t stride, size_t n, size_t row_count,
                       const float *x, float *out) {
    for (size_t r = 0; r < row_count; r++) out[r] = dot_i8_ref(rows + r * stride, x, n);
}

#if BK_X86
BK_TARGET_AVX2
BK_INLINE __m256 bf16x8_avx2(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
BK_INLINE __m256 i8x8_avx2(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
BK_INLINE float fold_avx2(__m256 lo, __m256 hi) { /* lanes 0-7 and 8-15 */
    const __m256 s8 = _mm256_add_ps(lo, hi);
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

#define BK_AVX2_DOTS(name, type, load, convert)                                                    \
    void name(const type *rows, size_t stride, size_t n, size_t row_count, const float *x,        \
              float *out) {                                                                        \
        for (size_t r = 0; r < row_count; r++) {                                                   \
            const type *w = rows + r * stride;                                                     \
            __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();                             \
            size_t i = 0;                                                                          \
            for (; i + 16 <= n; i += 16) {                                                         \
                lo = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), lo);                     \
                hi = _mm256_fmadd_ps(load(w + i + 8), _mm256_loadu_ps(x + i + 8), hi);             \
            }                                                                                      \
            float s = fold_avx2(lo, hi);                                                           \
            for (; i < n; i++) s = fmaf(convert(w[i]), x[i], s);                                   \
            out[r] = s;                                                                            \
        }                                                                                          \
    }
BK_AVX2_DOTS(bk_bf16_dots_avx2, uint16_t, bf16x8_avx2, bf16_value)
BK_AVX2_DOTS(bk_i8_dots_avx2, int8_t, i8x8_avx2, BK_I8_VALUE)

/* One row with up to four tokens: the row's 16 converted lanes are loaded once per step and
 * feed T independent pairs of accumulators (the same lanes and fold as bk_bf16_dots_avx2). */
BK_INLINE void bf16_row_tokens_avx2(const uint16_t *w, size_t n, const float *x, size_t x_stride, int T,
                                    float *out, size_t out_stride) {
    __m256 lo[4], hi[4];
    for (int t = 0; t < T; t++) lo[t] = hi[t] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = bf16x8_avx2(w + i), w1 = bf16x8_avx2(w + i + 8);
        for (int t = 0; t < T; t++) {
            lo[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * x_stride + i), lo[t]);
            hi[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + t * x_stride + i + 8), hi[t]);
        }
    }
    for (int t = 0; t < T; t++) {
        float s = fold_avx2(lo[t], hi[t]);
        for (size_t j = i; j < n; j++) s = fmaf(bf16_value(w[j]), x[t * x_stride + j], s);
        out[t * out_stride] = s;
    }
}

void bk_bf16_dots_tokens_avx2(const uint16_t *rows, size_t stride, size_t n, size_t row_count, const float *x,
                              size_t x_stride, size_t token_count, float *out, size_t out_stride) {
    for (size_t r = 0; r < row_count; r++)
        for (size_t t = 0; t < token_count; t += 4) {
            const float *xt = x + t * x_stride;
            float *o = out + t * out_stride + r;
            switch (token_count - t) { /* constant T: the loops above unroll into registers */
            case 1: bf16_row_tokens_avx2(rows + r * stride, n, xt, x_stride, 1, o, out_stride); break;
            case 2: bf16_row_tokens_avx2(rows + r * stride, n, xt, x_stride, 2, o, out_stride); break;
            case 3: bf16_row_tokens_avx2(rows + r * stride, n, xt, x_stride, 3, o, out_stride); break;
            default: bf16_row_tokens_avx2(rows + r * stride, n, xt, x_stride, 4, o, out_stride); break;
            }
        }
}
BK_UNTARGET

BK_TARGET_AVX512
BK_INLINE __m512 bf16x16_avx512(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
BK_INLINE __m512 i8x16_avx512(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
BK_INLINE float fold_avx512(__m512 s16) { /* the AVX2 fold of its two halves: the same order */
    const __m256 high = _mm256_castsi256_ps(_mm512_extracti64x4_epi64(_mm512_castps_si512(s16), 1));
    return fold_avx2(_mm512_castps512_ps256(s16), high);
}

/* Four rows at a time: four independent FMA chains hide the FMA latency. Four rows read in
 * lockstep stream badly from DRAM unless each asks for its lines two groups ahead into L2 (~1.5×
 * on an LM head). The ternary matrices avoid the four streams by storing rows in groups of four;
 * these rows are also the embedding table, read by row. */
#define BK_AVX512_DOTS(name, type, load, convert)                                                  \
    void name(const type *rows, size_t stride, size_t n, size_t row_count, const float *x,        \
              float *out) {                                                                        \
        size_t r = 0;                                                                              \
        for (; r + 4 <= row_count; r += 4) {                                                       \
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),        \
                             _mm512_setzero_ps()};                                                 \
            size_t i = 0;                                                                          \
            for (; i + 16 <= n; i += 16) {                                                         \
                const __m512 xv = _mm512_loadu_ps(x + i);                                          \
                for (int g = 0; g < 4; g++) {                                                      \
                    _mm_prefetch((const char *)(rows + (r + g + 8) * stride + i), _MM_HINT_T1);    \
                    acc[g] = _mm512_fmadd_ps(load(rows + (r + g) * stride + i), xv, acc[g]);       \
                }                                                                                  \
            }                                                                                      \
            for (int g = 0; g < 4; g++) {                                                          \
                const type *w = rows + (r + g) * stride;                                           \
                float s = fold_avx512(acc[g]);                                                     \
                for (size_t j = i; j < n; j++) s = fmaf(convert(w[j]), x[j], s);                   \
                out[r + g] = s;                                                                    \
            }                                                                                      \
        }                                                                                          \
        for (; r < row_count; r++) {                                                               \
            const type *w = rows + r * stride;                                                     \
            __m512 acc = _mm512_setzero_ps();                                                      \
            size_t i = 0;                                                                          \
            for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(load(w + i), _mm512_loadu_ps(x + i), acc); \
            float s = fold_avx512(acc);                                                            \
            for (; i < n; i++) s = fmaf(convert(w[i]), x[i], s);                                   \
            out[r] = s;                                                                            \
        }                                                                                          \
    }
BK_AVX512_DOTS(bk_bf16_dots_avx512, uint16_t, bf16x16_avx512, bf16_value)
BK_AVX512_DOTS(bk_i8_dots_avx512, int8_t, i8x16_avx512, BK_I8_VALUE)

/* R rows (4, or 1 for the tail) with T ≤ 4 tokens: each step converts the R rows' 16 elements
 * once and feeds R × T accumulators (16 + 4 + 1 zmm at most). `prefetch`: the first token chunk
 * asks for the row lines two groups ahead, as bk_bf16_dots_avx512 does; later chunks find the
 * rows in L1. Lanes and fold as bk_bf16_dots_avx512: the same bits. */
BK_INLINE void bf16_rows_tokens_avx512(const uint16_t *w, size_t stride, size_t n, int R, const float *x,
                                       size_t x_stride, int T, bool prefetch, float *out, size_t out_stride) {
    __m512 acc[4][4];
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++) acc[g][t] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 wv[4];
        for (int g = 0; g < R; g++) {
            if (prefetch) _mm_prefetch((const char *)(w + (g + 8) * stride + i), _MM_HINT_T1);
            wv[g] = bf16x16_avx512(w + g * stride + i);
        }
        for (int t = 0; t < T; t++) {
            const __m512 xv = _mm512_loadu_ps(x + t * x_stride + i);
            for (int g = 0; g < R; g++) acc[g][t] = _mm512_fmadd_ps(wv[g], xv, acc[g][t]);
        }
    }
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++) {
            float s = fold_avx512(acc[g][t]);
            for (size_t j = i; j < n; j++) s = fmaf(bf16_value(w[g * stride + j]), x[t * x_stride + j], s);
            out[t * out_stride + g] = s;
        }
}

#define BK_ROWS_TOKENS_AVX512(R, T, prefetch)                                                     \
    bf16_rows_tokens_avx512(rows + r * stride, stride, n, R, x + t * x_stride, x_stride, T, prefetch, \
                            out + t * out_stride + r, out_stride)

void bk_bf16_dots_tokens_avx512(const uint16_t *rows, size_t stride, size_t n, size_t row_count, const float *x,
                                size_t x_stride, size_t token_count, float *out, size_t out_stride) {
    size_t r = 0;
    for (; r + 4 <= row_count; r += 4)
        for (size_t t = 0; t < token_count; t += 4) {
            const bool first = t == 0;
            switch (token_count - t) { /* constant R and T: the accumulators stay in registers */
            case 1: if (first) BK_ROWS_TOKENS_AVX512(4, 1, true); else BK_ROWS_TOKENS_AVX512(4, 1, false); break;
            case 2: if (first) BK_ROWS_TOKENS_AVX512(4, 2, true); else BK_ROWS_TOKENS_AVX512(4, 2, false); break;
            case 3: if (first) BK_ROWS_TOKENS_AVX512(4, 3, true); else BK_ROWS_TOKENS_AVX512(4, 3, false); break;
            default: if (first) BK_ROWS_TOKENS_AVX512(4, 4, true); else BK_ROWS_TOKENS_AVX512(4, 4, false); break;
            }
        }
    for (; r < row_count; r++)
        for (size_t t = 0; t < token_count; t += 4) switch (token_count - t) {
            case 1: BK_ROWS_TOKENS_AVX512(1, 1, false); break;
            case 2: BK_ROWS_TOKENS_AVX512(1, 2, false); break;
            case 3: BK_ROWS_TOKENS_AVX512(1, 3, false); break;
            default: BK_ROWS_TOKENS_AVX512(1, 4, false); break;
            }
}
BK_UNTARGET
#endif

#if BK_AARCH64
BK_INLINE float fold_neon(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3) {
    const float32x4_t s4 = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3));
    const float32x2_t s2 = vadd_f32(vget_low_f32(s4), vget_high_f32(s4));
    return vget_lane_f32(s2, 0) + vget_lane_f32(s2, 1);
}
BK_INLINE float32x4_t bf16x4_neon(const uint16_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}
BK_INLINE float32x4_t i8x4_neon(const int8_t *p) {
    int32_t four;
    memcpy(&four, p, sizeof four); /* exactly 4 bytes: never past the row */
    const int16x8_t v = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(four)));
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(v)));
}

#define BK_NEON_DOTS(name, type, load, convert)                                                    \
    void name(const type *rows, size_t stride, size_t n, size_t row_count, const float *x,        \
              float *out) {                                                                        \
        for (size_t r = 0; r < row_count; r++) {                                                   \
            const type *w = rows + r * stride;                                                     \
            float32x4_t a[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};   \
            size_t i = 0;                                                                          \
            for (; i + 16 <= n; i += 16)                                                           \
                for (int q = 0; q < 4; q++)                                                        \
                    a[q] = vfmaq_f32(a[q], load(w + i + 4 * q), vld1q_f32(x + i + 4 * q));         \
            float s = fold_neon(a[0], a[1], a[2], a[3]);                                           \
            for (; i < n; i++) s = fmaf(convert(w[i]), x[i], s);                                   \
            out[r] = s;                                                                            \
        }                                                                                          \
    }
BK_NEON_DOTS(bk_bf16_dots_neon, uint16_t, bf16x4_neon, bf16_value)
BK_NEON_DOTS(bk_i8_dots_neon, int8_t, i8x4_neon, BK_I8_VALUE)
/* NEON: no multi-token variant yet; the blocked loop over the NEON single-token kernel. */
BK_TOKENS_VIA_DOTS(bk_bf16_dots_tokens_neon, bk_bf16_dots_neon)
#endif

/* Rows shared among threads; a team only above ~256 K elements of work. */
void bk_bf16_matvec(const bk_kernels *k, const uint16_t *rows, size_t stride, size_t n,
                    size_t row_count, const float *x, float *out, int threads) {
    const int team = row_count * n >= (1u << 18) ? bk_team_size(threads) : 1;
#pragma omp parallel num_threads(team)
    {
        const size_t t = (size_t)omp_get_num_threads(), i = (size_t)omp_get_thread_num();
        const size_t begin = row_count * i / t, end = row_count * (i + 1) / t;
        k->bf16_dots(rows + begin * stride, stride, n, end - begin, x, out + begin);
    }
}

/* Several tokens, rows shared among threads: each thread reads its rows once for every token. */
void bk_bf16_matmul(const bk_kernels *k, const uint16_t *rows, size_t stride, size_t n, size_t row_count,
                    const float *x, size_t x_stride, size_t token_count, float *out, size_t out_stride,
                    int threads) {
    if (token_count == 0) return;
    const int team = row_count * n * token_count >= (1u << 18) ? bk_team_size(threads) : 1;
#pragma omp parallel num_threads(team)
    {
        const size_t t = (size_t)omp_get_num_threads(), i = (size_t)omp_get_thread_num();
        const size_t begin = row_count * i / t, end = row_count * (i + 1) / t;
        k->bf16_dots_tokens(rows + begin * stride, stride, n, end - begin, x, x_stride, token_count, out + begin,
                            out_stride);
    }
}

void bk_i8_matvec(const bk_kernels *k, const int8_t *rows, size_t stride, size_t n,
                  size_t row_count, const float *row_scales, const float *x, float *out,
                  int threads) {
    const int team = row_count * n >= (1u << 18) ? bk_team_size(threads) : 1;
#pragma omp parallel num_threads(team)
    {
        const size_t t = (size_t)omp_get_num_threads(), i = (size_t)omp_get_thread_num();
        const size_t begin = row_count * i / t, end = row_count * (i + 1) / t;
        k->i8_dots(rows + begin * stride, stride, n, end - begin, x, out + begin);
        for (size_t r = begin; r < end; r++) out[r] *= row_scales[r];
    }
}
