/* rmsnorm.c — RMSNorm of tokens and its gradients, for training (BitTraining's forward and
 * backward passes run them once per token and norm, a fifth of a step in plain loops).
 *
 * Every variant is the same C compiled for its instruction set, and the sums have a fixed shape
 * written out in the code — eight double lanes for Σ x², sixteen float lanes for the backward
 * pass's dot product, each lane added in order and the lanes then in a fixed tree, then the tail —
 * so that the compiler's vectors only widen what the reference does lane by lane: all variants
 * give the same bits. No contraction into fused multiply-adds: the scalar reference has none. */
#include "bk_internal.h"

#include <math.h>
#include <string.h>

#ifdef __clang__
#pragma clang fp contract(off)
#endif
/* The vectors pass between always-inline helpers only, never across a call: the ABI note that
 * 256- and 512-bit vector arguments change the calling convention without AVX does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* The lanes as generic vectors (GCC and clang vector extensions): element-wise operations, so the
 * compiler splits them into whatever registers the variant has and every lane computes exactly
 * what the scalar reading says; written as arrays, the vectorizer kept them in 128-bit pieces. */
typedef float bk_f8 __attribute__((vector_size(32)));
typedef double bk_d8 __attribute__((vector_size(64)));
typedef float bk_f16 __attribute__((vector_size(64)));

BK_INLINE bk_f16 load_f16(const float *p) {
    bk_f16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Σ x[i]² in double: eight lanes, added ((0+1)+(2+3))+((4+5)+(6+7)), then the tail in order. */
BK_INLINE double squares_body(const float *x, size_t n) {
    bk_d8 lane = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        bk_f8 f;
        memcpy(&f, x + i, sizeof f);
        const bk_d8 d = __builtin_convertvector(f, bk_d8);
        lane += d * d;
    }
    double total = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++) total += (double)x[i] * (double)x[i];
    return total;
}

BK_INLINE float rmsnorm_body(const float *x, const float *w, size_t n, float eps, float *y) {
    const double ss = squares_body(x, n);
    const float r = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (size_t i = 0; i < n; i++) y[i] = w[i] * (x[i] * r);
    return r;
}

/* Σ (w[i] · g[i]) · (x[i] · r): sixteen lanes, then lanes l and l + 8, l + 4, l + 2, l + 1
 * pairwise (a halving tree), then the tail in order. */
BK_INLINE float weighted_dot_body(const float *x, const float *w, const float *g, float r, size_t n) {
    bk_f16 lane = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) lane += (load_f16(w + i) * load_f16(g + i)) * (load_f16(x + i) * r);
    float l[16];
    memcpy(l, &lane, sizeof l);
    for (int half = 8; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) l[k] = l[k] + l[k + half];
    float total = l[0];
    for (; i < n; i++) total += (w[i] * g[i]) * (x[i] * r);
    return total;
}

BK_INLINE void rmsnorm_backward_body(const float *x, const float *w, const float *g, float r, size_t n,
                                     bool accumulate, float *dx) {
    const float m = weighted_dot_body(x, w, g, r, n) / (float)n;
    if (accumulate)
        for (size_t i = 0; i < n; i++) dx[i] = dx[i] + r * (w[i] * g[i] - (x[i] * r) * m);
    else
        for (size_t i = 0; i < n; i++) dx[i] = r * (w[i] * g[i] - (x[i] * r) * m);
}

/* Each column's sum runs over the tokens in order; columns are independent (vector lanes). */
BK_INLINE void rmsnorm_weight_sums_body(const float *x, const float *g, size_t stride, const float *r,
                                        size_t tokens, size_t width, double *acc) {
    for (size_t t = 0; t < tokens; t++) {
        const float *xt = x + t * stride, *gt = g + t * stride;
        const float rt = r[t];
        for (size_t i = 0; i < width; i++) acc[i] += (double)(gt[i] * (xt[i] * rt));
    }
}

#define BK_RMSNORM_VARIANT(isa)                                                                    \
    float bk_rmsnorm_##isa(const float *x, const float *w, size_t n, float eps, float *y) {        \
        return rmsnorm_body(x, w, n, eps, y);                                                      \
    }                                                                                              \
    void bk_rmsnorm_backward_##isa(const float *x, const float *w, const float *g, float r,        \
                                   size_t n, bool accumulate, float *dx) {                         \
        rmsnorm_backward_body(x, w, g, r, n, accumulate, dx);                                      \
    }                                                                                              \
    void bk_rmsnorm_weight_sums_##isa(const float *x, const float *g, size_t stride,               \
                                      const float *r, size_t tokens, size_t width, double *acc) {  \
        rmsnorm_weight_sums_body(x, g, stride, r, tokens, width, acc);                             \
    }                                                                                              \
    double bk_sum_squares_##isa(const float *x, size_t n) { return squares_body(x, n); }

/* The specification (compiled for the baseline: SSE2 vectors on x86-64 at most). */
BK_RMSNORM_VARIANT(scalar)

#if BK_X86
BK_TARGET_AVX2
BK_RMSNORM_VARIANT(avx2)
BK_UNTARGET

BK_TARGET_AVX512
BK_RMSNORM_VARIANT(avx512)
BK_UNTARGET
#endif

#if BK_AARCH64
/* AArch64's baseline has NEON: the same code, vectorized on it by the compiler. */
BK_RMSNORM_VARIANT(neon)
#endif
