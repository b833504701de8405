/* slab.c — the AVX-512 slab GEMM's tile shapes against the same core's VPDPBUSD peak, each checked
 * against the scalar reference. Usage: slab ROWS COLS TOKENS CALLS VARIANT... (variant 0: the
 * library's bk_ternary_matmul_planes_avx512; others: experimental tiles below). */
#define _GNU_SOURCE
#include "bitkernels.h"
#include "bk_internal.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
void bk_ternary_matmul_scalar(const uint8_t *, size_t, size_t, const int8_t *, size_t, const int32_t *, size_t, int32_t *, size_t);

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

#define XI static inline __attribute__((always_inline))
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,bmi2"))), apply_to = function)

/* rows r0.. r0+n-1 into panel[q * R + i] (R = 16 V rows per slab) */
static void unpack(const uint8_t *packed, size_t bc, size_t r0, size_t n, size_t quads, uint32_t *panel, int R) {
    memset(panel, 0, quads * R * 4);
    for (size_t i = 0; i < n; i++)
        for (size_t q = 0; q < quads; q++) {
            const uint8_t *blk = packed + bk_ternary_block_offset(bc, r0 + i, q / 64);
            const int plane = (q / 16) % 4, j = (q % 16) * 4;
            uint32_t d = 0;
            for (int k = 0; k < 4; k++) d |= (uint32_t)((blk[j + k] >> (2 * plane)) & 3) << (8 * k);
            panel[q * R + i] = d;
        }
}

/* tokens t0.. t0+T-1 into xp[q * T + t] (dwords); tokens past n zero */
static void pack_x(const int8_t *x, size_t xs, size_t t0, size_t n, size_t quads, uint32_t *xp, int T) {
    for (size_t q = 0; q < quads; q++)
        for (int t = 0; t < T; t++) {
            uint32_t d = 0;
            if (t0 + t < n) memcpy(&d, x + (t0 + t) * xs + 4 * q, 4);
            xp[q * T + t] = d;
        }
}

/* V vectors (16 V rows) × T tokens, Q quads per step, activations from the packed panel */
XI void tile_p(const uint32_t *w, const uint32_t *xp, size_t quads, const int V, const int T, const int Q,
               const int32_t *xsum, int rest, int32_t *out, size_t os, const __mmask16 *m) {
    __m512i acc[32];
    for (int i = 0; i < V * T; i++) acc[i] = _mm512_setzero_si512();
    for (size_t q = 0; q < quads; q += Q) {
        for (int qq = 0; qq < Q; qq++) {
            __m512i wv[4];
            for (int v = 0; v < V; v++) wv[v] = _mm512_load_si512(w + (q + qq) * 16 * V + 16 * v);
            for (int t = 0; t < T; t++) {
                const __m512i b = _mm512_set1_epi32((int)xp[(q + qq) * T + t]);
                for (int v = 0; v < V; v++) acc[t * V + v] = _mm512_dpbusd_epi32(acc[t * V + v], wv[v], b);
            }
        }
    }
    for (int t = 0; t < T; t++) {
        if (t >= rest) break;
        const __m512i s = _mm512_set1_epi32(xsum[t]);
        for (int v = 0; v < V; v++) _mm512_mask_storeu_epi32(out + t * os + 16 * v, m[v], _mm512_sub_epi32(acc[t * V + v], s));
    }
}

/* the same with the tokens read in place: T token pointers (tokens past `rest` repeat the last) */
XI void tile_s(const uint32_t *w, const int8_t *x, size_t xs, size_t quads, const int V, const int T, const int Q,
               const int32_t *xsum, int rest, int32_t *out, size_t os, const __mmask16 *m) {
    __m512i acc[32];
    const int8_t *xt[24];
    for (int t = 0; t < T; t++) xt[t] = x + (size_t)(t < rest ? t : rest - 1) * xs;
    for (int i = 0; i < V * T; i++) acc[i] = _mm512_setzero_si512();
    for (size_t q = 0; q < quads; q += Q) {
        for (int qq = 0; qq < Q; qq++) {
            __m512i wv[4];
            for (int v = 0; v < V; v++) wv[v] = _mm512_load_si512(w + (q + qq) * 16 * V + 16 * v);
            for (int t = 0; t < T; t++) {
                int32_t a; memcpy(&a, xt[t] + 4 * (q + qq), 4);
                const __m512i b = _mm512_set1_epi32(a);
                for (int v = 0; v < V; v++) acc[t * V + v] = _mm512_dpbusd_epi32(acc[t * V + v], wv[v], b);
            }
        }
    }
    for (int t = 0; t < T; t++) {
        if (t >= rest) break;
        const __m512i s = _mm512_set1_epi32(xsum[t]);
        for (int v = 0; v < V; v++) _mm512_mask_storeu_epi32(out + t * os + 16 * v, m[v], _mm512_sub_epi32(acc[t * V + v], s));
    }
}
typedef void (*stile_fn)(const uint32_t *, const int8_t *, size_t, size_t, const int32_t *, int, int32_t *, size_t, const __mmask16 *);
#define DEFS(V, T, Q) static void s_##V##_##T##_##Q(const uint32_t *w, const int8_t *x, size_t xs, size_t quads, const int32_t *xsum, int rest, int32_t *out, size_t os, const __mmask16 *m) { tile_s(w, x, xs, quads, V, T, Q, xsum, rest, out, os, m); }
DEFS(4, 6, 2) DEFS(4, 6, 1) DEFS(4, 6, 4) DEFS(2, 12, 2) DEFS(3, 8, 2)

typedef void (*tile_fn)(const uint32_t *, const uint32_t *, size_t, const int32_t *, int, int32_t *, size_t, const __mmask16 *);
#define DEF(V, T, Q) static void t_##V##_##T##_##Q(const uint32_t *w, const uint32_t *xp, size_t quads, const int32_t *xs, int rest, int32_t *out, size_t os, const __mmask16 *m) { tile_p(w, xp, quads, V, T, Q, xs, rest, out, os, m); }
DEF(2, 12, 2) DEF(2, 12, 1) DEF(2, 12, 4) DEF(4, 6, 2) DEF(4, 6, 4) DEF(3, 8, 2) DEF(3, 8, 4) DEF(1, 24, 2) DEF(2, 14, 2) DEF(4, 7, 2) DEF(3, 9, 2)
#pragma clang attribute pop

struct variant { int V, T; tile_fn f; const char *name; stile_fn sf; };
static const struct variant variants[] = {
    {0, 0, 0, "library"},
    {2, 12, t_2_12_2, "32x12 q2"}, {2, 12, t_2_12_1, "32x12 q1"}, {2, 12, t_2_12_4, "32x12 q4"},
    {4, 6, t_4_6_2, "64x6 q2"}, {4, 6, t_4_6_4, "64x6 q4"}, {3, 8, t_3_8_2, "48x8 q2"}, {3, 8, t_3_8_4, "48x8 q4"},
    {1, 24, t_1_24_2, "16x24 q2"}, {2, 14, t_2_14_2, "32x14 q2"}, {4, 7, t_4_7_2, "64x7 q2"}, {3, 9, t_3_9_2, "48x9 q2"},
    {4, 6, 0, "s64x6 q2", s_4_6_2}, {4, 6, 0, "s64x6 q1", s_4_6_1}, {4, 6, 0, "s64x6 q4", s_4_6_4}, {2, 12, 0, "s32x12 q2", s_2_12_2}, {3, 8, 0, "s48x8 q2", s_3_8_2},
};

/* Variant 0 times the whole library call; the others only their tiles (the panels of the
 * activations and of every slab are built once, before the clock). */
static void run(const struct variant *v, const uint8_t *packed, size_t bc, int lp, size_t rows, const int8_t *x, size_t xs,
                const int32_t *xsum, size_t n, int32_t *out, size_t os, int reps, double *tm) {
    if (!v->f && !v->sf) {
        for (int c = 0; c < reps; c++) { double t0 = now(); bk_ternary_matmul_planes_avx512(packed, bc, lp, rows, x, xs, xsum, n, out, os); tm[c] = now() - t0; }
        return;
    }
    const size_t quads = (bc - 1) * 64 + lp * 16, R = 16 * v->V, T = v->T, groups = (n + T - 1) / T, slabs = (rows + R - 1) / R;
    uint32_t *xp = aligned_alloc(64, (groups * T * quads * 4 + 63) / 64 * 64);
    for (size_t g = 0; g < groups; g++) pack_x(x, xs, g * T, n, quads, xp + g * T * quads, T);
    uint32_t *panel = aligned_alloc(64, slabs * quads * R * 4);
    for (size_t k = 0; k < slabs; k++) unpack(packed, bc, k * R, rows - k * R < R ? rows - k * R : R, quads, panel + k * quads * R, R);
    for (int c = 0; c < reps; c++) {
        double t0 = now();
        for (size_t r = 0, k = 0; r < rows; r += R, k++) {
            const size_t nr = rows - r < R ? rows - r : R;
            __mmask16 m[4];
            for (int j = 0; j < 4; j++) { long cc = (long)nr - 16 * j; m[j] = cc >= 16 ? 0xFFFF : cc <= 0 ? 0 : (__mmask16)((1u << cc) - 1); }
            for (size_t g = 0; g < groups; g++) {
                const size_t t = g * T; const int rest = n - t < T ? (int)(n - t) : (int)T;
                if (v->sf) v->sf(panel + k * quads * R, x + t * xs, xs, quads, xsum + t, rest, out + t * os + r, os, m); else
                v->f(panel + k * quads * R, xp + g * T * quads, quads, xsum + t, rest, out + t * os + r, os, m);
            }
        }
        tm[c] = now() - t0;
    }
    free(panel); free(xp);
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: slab ROWS COLS TOKENS CALLS VARIANT...\n"); return 2; }
    size_t rows = atol(argv[1]), cols = atol(argv[2]), n = atol(argv[3]); int calls = atoi(argv[4]);
    size_t bc = bk_ternary_block_count(cols), bytes = bk_ternary_packed_bytes(rows, cols);
    const int lp = (int)(((cols - (bc - 1) * 256) + 63) / 64);
    uint8_t *m = aligned_alloc(64, (bytes + 63) / 64 * 64);
    uint32_t s = 12345;
    for (size_t j = 0; j < bytes; j++) { uint8_t b = 0; for (int k = 0; k < 4; k++) { s = s * 1103515245u + 12345u; b |= (uint8_t)(((s >> 16) % 3) << (2 * k)); } m[j] = b; }
    const size_t xs = bc * 256;
    int8_t *x = aligned_alloc(64, n * xs); int32_t *xsum = calloc(n, 4);
    for (size_t t = 0; t < n; t++) for (size_t c = 0; c < xs; c++) { s = s * 1103515245u + 12345u; int8_t v = c < (bc - 1) * 256 + (size_t)lp * 64 ? (int8_t)(s >> 16) : 0; x[t * xs + c] = v; xsum[t] += v; }
    int32_t *ref = malloc(rows * n * 4), *out = malloc(rows * n * 4);
    bk_ternary_matmul_scalar(m, bc, rows, x, xs, xsum, n, ref, rows);
    const double macs = (double)rows * ((bc - 1) * 256 + lp * 64) * n;
    double peak = bk_measure_vpdpbusd_peak(BK_ISA_AVX512, 0.2) / 1e9;
    double *tm = malloc(calls * sizeof(double));
    for (int a = 5; a < argc; a++) {
        if (!strcmp(argv[a], "f32")) { /* the float call's stages: quantize, i32 products, f32 products */
            const bk_kernels *k = bk_kernels_for(BK_ISA_AVX512);
            float *xf = malloc(n * (cols + 1) * 4), *sc = malloc(n * 4), *rs = malloc(rows * 4), *y = malloc(rows * n * 4);
            for (size_t i = 0; i < n * cols; i++) xf[i] = (float)((int)(i * 2654435761u % 2001) - 1000) / 1000;
            for (size_t i = 0; i < rows; i++) rs[i] = 0.5f;
            int32_t *ss = malloc(n * 4);
            bk_ternary_matrix w = {m, rows, cols, bc, rs};
            double *tq = malloc(calls * 8), *ti = malloc(calls * 8), *tf = malloc(calls * 8);
            for (int c = 0; c < calls; c++) {
                double t0 = now(); bk_quantize_tokens(k, xf, cols, cols, n, x, xs, sc, ss);
                double t1 = now(); bk_ternary_matmul_i32(k, &w, x, xs, ss, n, out, rows, 1);
                double t2 = now(); bk_ternary_matmul_f32(k, &w, x, xs, ss, sc, n, y, rows, 1);
                tq[c] = t1 - t0; ti[c] = t2 - t1; tf[c] = now() - t2;
            }
            float *yr = malloc(rows * n * 4);
            bk_ternary_matmul_f32(bk_kernels_for(BK_ISA_SCALAR), &w, x, xs, ss, sc, n, yr, rows, 1);
            if (memcmp(y, yr, rows * n * 4)) printf("f32: MISMATCH\n");
            bk_ternary_matmul_f32(k, &w, x, xs, ss, sc, n, y, rows, 2);
            if (memcmp(y, yr, rows * n * 4)) printf("f32 2 threads: MISMATCH\n");
            free(yr);
            qsort(tq, calls, 8, cmp); qsort(ti, calls, 8, cmp); qsort(tf, calls, 8, cmp);
            printf("stages     %zux%zu n=%zu: quantize %.1f us, i32 %.1f us, f32 %.1f us (%.0f%% of peak)\n", rows, cols, n,
                   tq[calls / 2] * 1e6, ti[calls / 2] * 1e6, tf[calls / 2] * 1e6, 100 * macs / tf[calls / 2] / 1e9 / peak);
            continue;
        }
        const struct variant *v = &variants[atoi(argv[a])];
        memset(out, 0x55, rows * n * 4);
        run(v, m, bc, lp, rows, x, xs, xsum, n, out, rows, 1, tm);
        if (memcmp(out, ref, rows * n * 4)) { printf("%s: MISMATCH\n", v->name); continue; }
        run(v, m, bc, lp, rows, x, xs, xsum, n, out, rows, calls, tm);
        qsort(tm, calls, sizeof(double), cmp);
        printf("%-10s %zux%zu n=%zu: p50 %.1f us %.0f GMAC/s (%.0f%%) p10-p90 %.0f-%.0f%% of peak %.0f\n", v->name, rows, cols, n,
               tm[calls / 2] * 1e6, macs / tm[calls / 2] / 1e9, 100 * macs / tm[calls / 2] / 1e9 / peak,
               100 * macs / tm[calls * 9 / 10] / 1e9 / peak, 100 * macs / tm[calls / 10] / 1e9 / peak, peak);
    }
    return 0;
}
