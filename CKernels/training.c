/* training.c — the per-token and element-wise passes of a training step (BitTraining): RMSNorm
 * and its gradients, the gradient norm's sum of squares, the AdamW update, the re-quantization of
 * latent weights to ternary or binary codes, the causal softmax row, the squared-ReLU gate and its
 * gradient, and the dequantized copy of int8 tokens that the weight gradients read; and, sharing
 * the softmax, inference's decoding attention of one token (attention_token). As Swift loops
 * (which this package compiles for baseline x86-64: four SSE2 lanes) they were a fifth of a step;
 * here each is compiled per instruction set.
 *
 * Every variant is the same C on generic vectors, each lane doing the scalar reading's float
 * operations in the same order with no contraction into fused multiply-adds, and every sum has a
 * fixed shape written out in the code — eight double lanes for Σ x² and Σ|w|, sixteen float lanes
 * for the RMSNorm backward pass's dot product, each lane added in order, the lanes then in a fixed
 * tree, then the tail — so that the compiler's vectors only widen what the reference does lane by
 * lane: all variants give the same bits. The element-wise passes also give the bits of the Swift
 * loops they replaced, so training runs did not change when they moved here. */
#include "bk_internal.h"
#include "bk_omp.h"

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
typedef float bk_f16 __attribute__((vector_size(64)));
typedef int32_t bk_i8x32 __attribute__((vector_size(32)));
typedef int32_t bk_i16x32 __attribute__((vector_size(64)));
typedef int8_t bk_i16x8 __attribute__((vector_size(16)));
typedef double bk_d8 __attribute__((vector_size(64)));
typedef int64_t bk_l8 __attribute__((vector_size(64)));

BK_INLINE bk_f16 load16(const float *p) {
    bk_f16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
BK_INLINE void store16(float *p, bk_f16 v) { memcpy(p, &v, sizeof v); }
BK_INLINE bk_f8 load8(const float *p) {
    bk_f8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
BK_INLINE void store8(float *p, bk_f8 v) { memcpy(p, &v, sizeof v); }

/* The eight double lanes' total in one fixed order, ((0+1)+(2+3))+((4+5)+(6+7)). */
BK_INLINE double total8(bk_d8 l) { return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); }

/* Lane-wise a where mask (all ones), else b. */
BK_INLINE bk_f16 select16(bk_i16x32 mask, bk_f16 a, bk_f16 b) {
    return (bk_f16)((mask & (bk_i16x32)a) | (~mask & (bk_i16x32)b));
}
BK_INLINE bk_f8 select8(bk_i8x32 mask, bk_f8 a, bk_f8 b) {
    return (bk_f8)((mask & (bk_i8x32)a) | (~mask & (bk_i8x32)b));
}

/* √v lane-wise: clang's element-wise builtin (vsqrtps; `sqrtf` would keep errno's scalar call);
 * other compilers (the NEON check's gcc) one lane at a time — the same correctly rounded root. */
BK_INLINE bk_f16 sqrt16(bk_f16 v) {
#if defined(__has_builtin) && __has_builtin(__builtin_elementwise_sqrt)
    return __builtin_elementwise_sqrt(v);
#else
    for (int k = 0; k < 16; k++) v[k] = sqrtf(v[k]);
    return v;
#endif
}

/* ---- RMSNorm and the sum of squares ------------------------------------------------------------ */

/* Σ x[i]² in double: eight lanes, added ((0+1)+(2+3))+((4+5)+(6+7)), then the tail in order. */
BK_INLINE double squares_body(const float *x, size_t n) {
    bk_d8 lane = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const bk_d8 d = __builtin_convertvector(load8(x + i), bk_d8);
        lane += d * d;
    }
    double total = total8(lane);
    for (; i < n; i++) total += (double)x[i] * (double)x[i];
    return total;
}

BK_INLINE float rmsnorm_body(const float *x, const float *w, size_t n, float eps, float *y) {
    const double ss = squares_body(x, n);
    const float r = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (size_t i = 0; i < n; i++) y[i] = w[i] * (x[i] * r);
    return r;
}

/* The sixteen float lanes' total: lanes l and l + 8, l + 4, l + 2, l + 1 pairwise (a halving tree). */
BK_INLINE float total16(bk_f16 lane) {
    float l[16];
    memcpy(l, &lane, sizeof l);
    for (int half = 8; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) l[k] = l[k] + l[k + half];
    return l[0];
}

/* Σ (w[i] · g[i]) · (x[i] · r): sixteen lanes, their halving tree (total16), then the tail in order. */
BK_INLINE float weighted_dot_body(const float *x, const float *w, const float *g, float r, size_t n) {
    bk_f16 lane = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) lane += (load16(w + i) * load16(g + i)) * (load16(x + i) * r);
    float total = total16(lane);
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

/* ---- AdamW ---------------------------------------------------------------------------------- */

/* g' = g · factor (the clipping factor); w ← w · decay; m ← m + (g' − m)(1 − β1);
 * v ← v β2 + ((1 − β2) g') g'; w ← w − (step · m) / (√v / √(1 − β2ᵗ) + ε). */
BK_INLINE void adamw_body(float *w, const float *g, float *m, float *v, size_t n, const bk_adamw_step *k) {
    const float one_b1 = 1.0f - k->beta1, one_b2 = 1.0f - k->beta2;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const bk_f16 gi = load16(g + i) * k->factor, wi = load16(w + i) * k->decay;
        bk_f16 mi = load16(m + i), vi = load16(v + i);
        mi += (gi - mi) * one_b1;
        vi = vi * k->beta2 + (one_b2 * gi) * gi;
        const bk_f16 update = (k->step_size * mi) / (sqrt16(vi) / k->bias2_root + k->epsilon);
        store16(m + i, mi);
        store16(v + i, vi);
        store16(w + i, wi - update);
    }
    for (; i < n; i++) {
        const float gi = g[i] * k->factor;
        w[i] *= k->decay;
        m[i] += (gi - m[i]) * one_b1;
        v[i] = v[i] * k->beta2 + (one_b2 * gi) * gi;
        w[i] -= (k->step_size * m[i]) / (sqrtf(v[i]) / k->bias2_root + k->epsilon);
    }
}

/* ---- Re-quantization -------------------------------------------------------------------------- */

/* Σ|w| and Σw in eight double lanes each, added ((0+1)+(2+3))+((4+5)+(6+7)), then the tail in
 * order: the order `bk_ternarize_absmean` sums in, so the scale is exactly the load-time one. */
BK_INLINE void abs_and_plain_sums(const float *w, size_t n, double *abs_total, double *total) {
    bk_d8 a = {0}, s = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const bk_d8 x = __builtin_convertvector(load8(w + i), bk_d8);
        a += (bk_d8)((bk_l8)x & 0x7fffffffffffffff); /* |x|: the sign bit cleared */
        s += x;
    }
    double at = total8(a), st = total8(s);
    for (; i < n; i++) {
        at += fabs((double)w[i]);
        st += (double)w[i];
    }
    *abs_total = at;
    *total = st;
}

BK_INLINE size_t requantize_body(const float *w, size_t n, bool binary, const int8_t *previous, int8_t *codes,
                                 float *dequantized, float *scale_out, float *centre_out) {
    double abs_total, total;
    abs_and_plain_sums(w, n, &abs_total, &total);
    const float mean_abs = (float)(abs_total / (double)n);
    const float scale = 1e-5f >= mean_abs ? 1e-5f : mean_abs; /* Swift's max(mean, 1e-5) */
    const float centre = binary ? (float)(total / (double)n) : 0.0f, inverse = 1.0f / scale;
    bk_i16x32 changed = {0};
    size_t i = 0, flips = 0;
    for (; i + 16 <= n; i += 16) {
        const bk_f16 x = load16(w + i);
        bk_i16x32 code;
        if (binary) {
            code = -1 - 2 * (bk_i16x32)(x >= centre); /* +1 where x ≥ centre (masks are −1), else −1 */
        } else {
            const bk_f16 s = x * inverse;
            code = (bk_i16x32)(s < -0.5f) - (bk_i16x32)(s > 0.5f);
        }
        const bk_i16x8 bytes = __builtin_convertvector(code, bk_i16x8);
        memcpy(codes + i, &bytes, sizeof bytes);
        store16(dequantized + i, __builtin_convertvector(code, bk_f16) * scale);
        if (previous) {
            bk_i16x8 before;
            memcpy(&before, previous + i, sizeof before);
            changed -= (bk_i16x32)(__builtin_convertvector(before, bk_i16x32) != code);
        }
    }
    for (; i < n; i++) {
        int8_t code;
        if (binary) {
            code = w[i] >= centre ? 1 : -1;
        } else {
            const float s = w[i] * inverse;
            code = s > 0.5f ? 1 : s < -0.5f ? -1 : 0;
        }
        codes[i] = code;
        dequantized[i] = (float)code * scale;
        if (previous && previous[i] != code) flips++;
    }
    for (int k = 0; k < 16; k++) flips += (size_t)changed[k];
    *scale_out = scale;
    *centre_out = centre;
    return flips;
}

/* ---- Causal softmax ---------------------------------------------------------------------------- */

/* e^x for x ≤ 0, eight lanes: x = k ln 2 + r (|r| ≤ ln 2 / 2), Cephes' degree-6 polynomial for
 * e^r, times 2^k built in the exponent bits; within 2 ulp of expf above −87, a tiny normal value
 * below (x is clamped there). k = x log₂e rounded to nearest by adding 1.5 · 2²³, which also
 * leaves k in the low mantissa bits. */
BK_INLINE bk_f8 exp_non_positive(bk_f8 x) {
    const bk_f8 clamped = select8(x < -87.0f, (bk_f8){0} - 87.0f, x);
    const bk_f8 shifted = clamped * 1.44269504f + 12582912.0f;
    const bk_f8 k = shifted - 12582912.0f;
    const bk_f8 r = (clamped - k * 0.693359375f) + k * 2.1219444e-4f;
    bk_f8 p = (bk_f8){0} + 1.98756915e-4f;
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.3334519e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 0.166666655f;
    p = p * r + 0.50000001f;
    p = (p * (r * r) + r) + 1.0f;
    const bk_i8x32 integer = (bk_i8x32)shifted - 0x4B400000;
    return p * (bk_f8)((integer + 127) << 23);
}

/* row[0..last] ← softmax(row[0..last]), row[last+1..count) ← 0. Eight lanes: the rows are a
 * context long (tens of values). The exponentials' sum: eight lanes (the tail as one more vector
 * whose extra lanes are 0), added ((0+1)+(2+3))+((4+5)+(6+7)). */
BK_INLINE void softmax_row_body(float *row, size_t last, size_t count) {
    const size_t n = last + 1;
    float best = -INFINITY;
    size_t j = 0;
    if (n >= 8) {
        bk_f8 m = load8(row);
        for (j = 8; j + 8 <= n; j += 8) {
            const bk_f8 v = load8(row + j);
            m = select8(v > m, v, m);
        }
        for (int k = 0; k < 8; k++) best = m[k] > best ? m[k] : best;
    }
    for (; j < n; j++) best = row[j] > best ? row[j] : best;
    bk_f8 sums = {0};
    for (j = 0; j + 8 <= n; j += 8) {
        const bk_f8 e = exp_non_positive(load8(row + j) - best);
        store8(row + j, e);
        sums += e;
    }
    if (j < n) {
        bk_f8 tail = (bk_f8){0} - 87.0f;
        for (size_t k = j; k < n; k++) tail[k - j] = row[k] - best;
        bk_f8 e = exp_non_positive(tail);
        for (size_t k = n - j; k < 8; k++) e[k] = 0.0f;
        for (size_t k = j; k < n; k++) row[k] = e[k - j];
        sums += e;
    }
    const float inverse = 1.0f / (((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7])));
    for (j = 0; j + 16 <= n; j += 16) store16(row + j, load16(row + j) * inverse);
    for (; j < n; j++) row[j] *= inverse;
    if (n < count) memset(row + n, 0, (count - n) * sizeof *row);
}

/* ---- Squared-ReLU gate ------------------------------------------------------------------------- */

/* relu(g) with Swift's max(g, 0): 0 where g ≤ 0, g otherwise (NaN stays NaN). */
BK_INLINE bk_f16 relu16(bk_f16 g) { return select16(g <= 0.0f, (bk_f16){0}, g); }
BK_INLINE float relu1(float g) { return g <= 0.0f ? 0.0f : g; }

/* m = (relu(g) · relu(g)) · u */
BK_INLINE void relu2_times_body(const float *g, const float *u, float *m, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const bk_f16 r = relu16(load16(g + i));
        store16(m + i, (r * r) * load16(u + i));
    }
    for (; i < n; i++) {
        const float r = relu1(g[i]);
        m[i] = (r * r) * u[i];
    }
}

/* du = (dm · r) · r, dg = ((dm · u) · 2) · r with r = relu(g). */
BK_INLINE void relu2_backward_body(const float *g, const float *u, const float *dm, float *dg, float *du, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const bk_f16 r = relu16(load16(g + i)), d = load16(dm + i);
        store16(du + i, (d * r) * r);
        store16(dg + i, ((d * load16(u + i)) * 2.0f) * r);
    }
    for (; i < n; i++) {
        const float r = relu1(g[i]);
        du[i] = (dm[i] * r) * r;
        dg[i] = ((dm[i] * u[i]) * 2.0f) * r;
    }
}

/* ---- Rotary embedding -------------------------------------------------------------------------- */

/* Per head: a = x[i], b = x[i + d/2] → (a·c − b·s, b·c + a·s), s negated for the inverse. */
BK_INLINE void rope_rotate_body(float *x, size_t heads, size_t d, const float *cs, const float *sn, bool inverse) {
    const size_t half = d / 2;
    for (size_t h = 0; h < heads; h++) {
        float *a = x + h * d, *b = a + half;
        size_t i = 0;
        for (; i + 16 <= half; i += 16) {
            const bk_f16 x1 = load16(a + i), x2 = load16(b + i), c = load16(cs + i);
            const bk_f16 s = inverse ? -load16(sn + i) : load16(sn + i);
            store16(a + i, x1 * c - x2 * s);
            store16(b + i, x2 * c + x1 * s);
        }
        for (; i < half; i++) {
            const float x1 = a[i], x2 = b[i], c = cs[i], s = inverse ? -sn[i] : sn[i];
            a[i] = x1 * c - x2 * s;
            b[i] = x2 * c + x1 * s;
        }
    }
}

/* ---- Dequantized tokens ------------------------------------------------------------------------ */

/* out[i] = q[i] / s (a division, not a multiply by 1/s: the value the weight gradients used). */
BK_INLINE void dequantize_token_body(const int8_t *q, size_t n, float s, float *out) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        bk_i16x8 b;
        memcpy(&b, q + i, sizeof b);
        store16(out + i, __builtin_convertvector(b, bk_f16) / s);
    }
    for (; i < n; i++) out[i] = (float)q[i] / s;
}

/* ---- Attention of one token (decoding) -------------------------------------------------------- */

/* q · k: sixteen lanes, their halving tree (total16), then the tail in order. */
BK_INLINE float dot_body(const float *a, const float *b, size_t n) {
    bk_f16 lane = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) lane += load16(a + i) * load16(b + i);
    float total = total16(lane);
    for (; i < n; i++) total += a[i] * b[i];
    return total;
}

/* One query head against `positions` keys and values `stride` floats apart: scores[p] = (q · k_p) ·
 * scale, their softmax (softmax_row_body), out = Σ_p w_p · v_p added in position order from 0. */
BK_INLINE void attention_token_body(const float *q, const float *keys, const float *values, size_t positions,
                                    size_t stride, size_t d, float scale, float *scores, float *out) {
    /* When a cache row is a whole position (every kv head), one head's slices are `stride` floats
     * apart, pages apart for wide models, where the hardware prefetchers lose the stream and each
     * position waits on DRAM: asking for the slice a few positions ahead keeps reads in flight. */
    enum { ahead = 8 };
    for (size_t p = 0; p < positions; p++) {
        if (p + ahead < positions)
            for (size_t i = 0; i < d; i += 16) __builtin_prefetch(keys + (p + ahead) * stride + i);
        scores[p] = dot_body(q, keys + p * stride, d) * scale;
    }
    softmax_row_body(scores, positions - 1, positions);
    memset(out, 0, d * sizeof *out);
    for (size_t p = 0; p < positions; p++) {
        if (p + ahead < positions)
            for (size_t i = 0; i < d; i += 16) __builtin_prefetch(values + (p + ahead) * stride + i);
        /* A weight below 2⁻⁶⁰ moves the sum by less than 2⁻⁶⁰ of the largest value, far below a
         * float's resolution of the weighted values (the weights add to 1). Skipping it avoids the
         * subnormal products peaked attention makes by the thousand, each a microcode assist on
         * x86: in the 2B-4T model at a 1,500-token context they made this loop three times slower. */
        const float w = scores[p], *v = values + p * stride;
        if (w < 0x1p-60f) continue;
        size_t i = 0;
        for (; i + 16 <= d; i += 16) store16(out + i, load16(out + i) + load16(v + i) * w);
        for (; i < d; i++) out[i] = out[i] + v[i] * w;
    }
}

#define BK_RMSNORM_ENTRIES(isa)                                                                    \
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

#define BK_TRAINING_VARIANT(isa)                                                                   \
    BK_RMSNORM_ENTRIES(isa)                                                                        \
    void bk_adamw_update_##isa(float *w, const float *g, float *m, float *v, size_t n,             \
                               const bk_adamw_step *k) {                                           \
        adamw_body(w, g, m, v, n, k);                                                              \
    }                                                                                              \
    size_t bk_requantize_##isa(const float *w, size_t n, bool binary, const int8_t *previous,      \
                               int8_t *codes, float *dequantized, float *scale, float *centre) {   \
        return requantize_body(w, n, binary, previous, codes, dequantized, scale, centre);        \
    }                                                                                              \
    void bk_softmax_row_##isa(float *row, size_t last, size_t count) {                             \
        softmax_row_body(row, last, count);                                                        \
    }                                                                                              \
    void bk_relu2_times_##isa(const float *g, const float *u, float *m, size_t n) {                \
        relu2_times_body(g, u, m, n);                                                              \
    }                                                                                              \
    void bk_relu2_backward_##isa(const float *g, const float *u, const float *dm, float *dg,       \
                                 float *du, size_t n) {                                            \
        relu2_backward_body(g, u, dm, dg, du, n);                                                  \
    }                                                                                              \
    void bk_dequantize_token_##isa(const int8_t *q, size_t n, float s, float *out) {               \
        dequantize_token_body(q, n, s, out);                                                       \
    }                                                                                              \
    void bk_rope_rotate_##isa(float *x, size_t heads, size_t d, const float *cos, const float *sin, \
                              bool inverse) {                                                      \
        rope_rotate_body(x, heads, d, cos, sin, inverse);                                          \
    }                                                                                              \
    void bk_attention_token_##isa(const float *q, const float *keys, const float *values,         \
                                  size_t positions, size_t stride, size_t d, float scale,         \
                                  float *scores, float *out) {                                    \
        attention_token_body(q, keys, values, positions, stride, d, scale, scores, out);          \
    }

/* The specification (compiled for the baseline: SSE2 vectors on x86-64 at most). */
BK_TRAINING_VARIANT(scalar)

#if BK_X86
BK_TARGET_AVX2
BK_TRAINING_VARIANT(avx2)
BK_UNTARGET

BK_TARGET_AVX512
BK_TRAINING_VARIANT(avx512)
BK_UNTARGET
#endif

#if BK_AARCH64
BK_TRAINING_VARIANT(neon)
#endif

/* Heads shared among threads (contiguous ranges) once the scores are many enough to pay for waking
 * the team: each head is computed the same whichever thread runs it. */
void bk_attention_decode(const bk_kernels *k, const float *q, const float *keys, const float *values,
                         size_t positions, size_t heads, size_t kv_heads, size_t d, size_t position_stride,
                         size_t head_stride, float scale, float *scores, float *out, int threads) {
    if (positions == 0 || heads == 0) return;
    const size_t group = heads / kv_heads;
    const int team = heads * positions * d >= (1u << 16) ? bk_team_size(threads) : 1;
#pragma omp parallel num_threads(team)
    {
        const size_t n = (size_t)omp_get_num_threads(), i = (size_t)omp_get_thread_num();
        for (size_t h = heads * i / n; h < heads * (i + 1) / n; h++)
            k->attention_token(q + h * d, keys + (h / group) * head_stride, values + (h / group) * head_stride, positions,
                               position_stride, d, scale, scores + h * positions, out + h * d);
    }
}
