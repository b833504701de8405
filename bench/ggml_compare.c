/* ggml_compare.c — our ternary GEMV/GEMM against ggml's TQ2_0 / TQ1_0 matrix products in one
 * process, alternating pass by pass (built and run by bench/ggml_compare.sh).
 *
 * Both sides take the same f32 tokens and return f32 outputs, quantizing the tokens in every call:
 *   ggml  ggml_mul_mat(W, x) in a one-node graph on ggml's CPU backend (ggml_graph_compute with
 *         its own threadpool of 1 or 2 threads): x → Q8_K (one scale per 256-block, from_float),
 *         then the type's vec_dot per row and token.
 *   vd    (1 thread only) the same kernels called directly: Q8_K from_float, then vec_dot per row
 *         and token — ggml's kernel without its graph, plan and threadpool.
 *   ours  bk_quantize_tokens (one int8 scale per token) + bk_ternary_matmul_f32 with the variant
 *         forced (bk_kernels_for), 1 or 2 OpenMP threads.
 * Same weights (random ternary, per-row scales exact in fp16), same work, different activation
 * rounding: the check below compares each side with an exact float reference.
 *
 * warm: one matrix called again and again; dram: a rotation of distinct copies of it, more than
 * --dram-mib MiB per side (the VM's L3 is 260 MiB), every call of a pass on a different copy.
 * Per pass: a few untimed calls, then the timed calls, ggml / vd / ours in turn (the order rotates
 * with the pass). Idle pools must not spin while the other side runs (2 vCPUs): ggml's pool is
 * paused (its workers sleep), and after our side we sleep past libomp's 200 ms spin (KMP_BLOCKTIME).
 * Reported: median µs per call over all timed calls of all passes, p10–p90, G MAC/s (rows × cols ×
 * tokens / time) and GB/s of each side's own weight bytes; ratio = ggml µs / ours µs per pass,
 * median (min–max) over passes. */
#define _GNU_SOURCE
#include "bitkernels.h"
#include "ggml.h"
#include "ggml-cpu.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static double pct(double *v, size_t n, double p) { qsort(v, n, sizeof *v, cmpd); size_t i = (size_t)(p * (n - 1) + 0.5); return v[i]; }
static void die(const char *m, const char *a) { fprintf(stderr, "ggml_compare: %s%s\n", m, a ? a : ""); exit(2); }
static void *xalloc(size_t n) { void *p = aligned_alloc(64, (n + 63) / 64 * 64); if (!p) die("out of memory", NULL); return p; }
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

#define MAXL 16
typedef struct { size_t n; char s[MAXL][32]; } list;
static list split(const char *a) {
    list l = { 0 };
    const char *p = a;
    while (*p) {
        const char *e = strchr(p, ','); size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len >= 32 || l.n == MAXL) die("bad list: ", a);
        memcpy(l.s[l.n], p, len); l.s[l.n][len] = 0; l.n++;
        p += len + (e ? 1 : 0);
    }
    if (l.n == 0) die("empty list", NULL);
    return l;
}
static long num(const char *s, long lo, long hi) {
    char *e; long v = strtol(s, &e, 10);
    if (*s == 0 || *e || v < lo || v > hi) die("bad number: ", s);
    return v;
}

typedef struct { double *t; size_t n, cap; } samples;
static void add(samples *s, double v) {
    if (s->n == s->cap) { s->cap = s->cap ? 2 * s->cap : 256; s->t = realloc(s->t, s->cap * sizeof(double)); if (!s->t) die("out of memory", NULL); }
    s->t[s->n++] = v;
}

/* ---- one configuration ---- */
typedef struct {
    enum ggml_type type; size_t rows, cols, n; int threads; int dram; const bk_kernels *k;
    int passes, calls, warmup; size_t dram_bytes;
} config;

typedef struct {            /* ggml side */
    size_t row_bytes, mat_bytes, copies; uint8_t *w;
    struct ggml_context *ctx; struct ggml_tensor *W, *X, *Y; struct ggml_cgraph *gf;
    struct ggml_cplan plan; struct ggml_threadpool *tp; uint8_t *work;
    const struct ggml_type_traits_cpu *tt, *qt; uint8_t *xq; size_t xq_row;
} gside;
typedef struct {            /* our side */
    size_t bc, mat_bytes, copies; uint8_t *w; float *rs; int8_t *q; float *xs; int32_t *sums;
} oside;

static void ggml_call(gside *g, const config *c, size_t m, float *y) {
    g->W->data = g->w + m * g->mat_bytes;
    g->Y->data = y;
    if (ggml_graph_compute(g->gf, &g->plan) != GGML_STATUS_SUCCESS) die("ggml_graph_compute failed", NULL);
    (void)c;
}
static void vd_call(gside *g, const config *c, size_t m, const float *x, float *y) {
    const uint8_t *w = g->w + m * g->mat_bytes;
    for (size_t t = 0; t < c->n; t++) g->qt->from_float(x + t * c->cols, g->xq + t * g->xq_row, (int64_t)c->cols);
    for (size_t t = 0; t < c->n; t++)
        for (size_t r = 0; r < c->rows; r++)
            g->tt->vec_dot((int)c->cols, y + t * c->rows + r, 0, w + r * g->row_bytes, 0, g->xq + t * g->xq_row, 0, 1);
}
static void our_call(oside *o, const config *c, size_t m, const float *x, float *y) {
    bk_ternary_matrix w = { o->w + m * o->mat_bytes, c->rows, c->cols, o->bc, o->rs };
    bk_quantize_tokens(c->k, x, c->cols, c->cols, c->n, o->q, o->bc * 256, o->xs, o->sums);
    bk_ternary_matmul_f32(c->k, &w, o->q, o->bc * 256, o->sums, o->xs, c->n, y, c->rows, c->threads);
}

static double relerr(const float *y, const double *ref, size_t n) {
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) { e += (y[i] - ref[i]) * (y[i] - ref[i]); s += ref[i] * ref[i]; }
    return s > 0 ? sqrt(e / s) : sqrt(e);
}

static void run(const config *c, const char *isa, const char *build) {
    size_t rows = c->rows, cols = c->cols, n = c->n;
    /* weights: ternary, ~1/3 zeros, per-row scale exact in fp16 */
    int8_t *t = xalloc(rows * cols);
    float *wf = xalloc(rows * cols * sizeof(float)), *rs = xalloc(rows * sizeof(float));
    for (size_t r = 0; r < rows; r++) rs[r] = 1.0f + (float)(r % 7) / 8;
    for (size_t i = 0; i < rows * cols; i++) { uint64_t v = next() % 3; t[i] = (int8_t)v - 1; wf[i] = t[i] * rs[i / cols]; }
    float *x = xalloc(n * cols * sizeof(float));
    for (size_t i = 0; i < n * cols; i++) x[i] = (float)((int64_t)(next() % 2001) - 1000) / 1000.0f;
    double *ref = xalloc(n * rows * sizeof(double));
    for (size_t tk = 0; tk < n; tk++)
        for (size_t r = 0; r < rows; r++) {
            double s = 0; for (size_t k = 0; k < cols; k++) s += (double)t[r * cols + k] * x[tk * cols + k];
            ref[tk * rows + r] = s * rs[r];
        }

    gside g = { 0 }; oside o = { 0 };
    g.row_bytes = ggml_row_size(c->type, (int64_t)cols);
    g.mat_bytes = (g.row_bytes * rows + 4095) / 4096 * 4096;
    o.bc = bk_ternary_block_count(cols);
    o.mat_bytes = (bk_ternary_packed_bytes(rows, cols) + 4095) / 4096 * 4096;
    g.copies = c->dram ? (c->dram_bytes + g.mat_bytes - 1) / g.mat_bytes : 1;
    o.copies = c->dram ? (c->dram_bytes + o.mat_bytes - 1) / o.mat_bytes : 1;
    g.w = xalloc(g.mat_bytes * g.copies); o.w = xalloc(o.mat_bytes * o.copies); o.rs = rs;
    ggml_quantize_chunk(c->type, wf, g.w, 0, (int64_t)rows, (int64_t)cols, NULL);
    if (bk_ternary_pack(t, rows, cols, o.w) != -1) die("bk_ternary_pack rejected the weights", NULL);
    for (size_t m = 1; m < g.copies; m++) memcpy(g.w + m * g.mat_bytes, g.w, g.mat_bytes);
    for (size_t m = 1; m < o.copies; m++) memcpy(o.w + m * o.mat_bytes, o.w, o.mat_bytes);
    o.q = xalloc(n * o.bc * 256); o.xs = xalloc(n * sizeof(float)); o.sums = xalloc(n * sizeof(int32_t));

    /* ggml graph: Y = mul_mat(W, X); tensors' data set by hand (W moves through the rotation) */
    struct ggml_init_params ip = { 16 * 1024 * 1024, NULL, true };
    g.ctx = ggml_init(ip);
    g.W = ggml_new_tensor_2d(g.ctx, c->type, (int64_t)cols, (int64_t)rows);
    g.X = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, (int64_t)cols, (int64_t)n);
    g.Y = ggml_mul_mat(g.ctx, g.W, g.X);
    g.gf = ggml_new_graph(g.ctx);
    ggml_build_forward_expand(g.gf, g.Y);
    g.W->data = g.w; g.X->data = x;
    struct ggml_threadpool_params tpp = ggml_threadpool_params_default(c->threads);
    g.tp = ggml_threadpool_new(&tpp);
    if (!g.tp) die("ggml_threadpool_new failed", NULL);
    g.plan = ggml_graph_plan(g.gf, c->threads, g.tp);
    g.work = xalloc(g.plan.work_size + 64); g.plan.work_data = g.work;
    g.tt = ggml_get_type_traits_cpu(c->type); g.qt = ggml_get_type_traits_cpu(g.tt->vec_dot_type);
    g.xq_row = ggml_row_size(g.tt->vec_dot_type, (int64_t)cols); g.xq = xalloc(n * g.xq_row);

    /* sanity: every side against the exact reference (different activation rounding) */
    float *yg = xalloc(n * rows * sizeof(float)), *yv = xalloc(n * rows * sizeof(float)), *yo = xalloc(n * rows * sizeof(float));
    ggml_call(&g, c, 0, yg); vd_call(&g, c, 0, x, yv); our_call(&o, c, 0, x, yo);
    double eg = relerr(yg, ref, n * rows), ev = relerr(yv, ref, n * rows), eo = relerr(yo, ref, n * rows);
    if (!(eg < 0.05 && ev < 0.05 && eo < 0.05)) {
        fprintf(stderr, "ggml_compare: products disagree with the reference (rel. error ggml %.3g, vd %.3g, ours %.3g)\n", eg, ev, eo);
        exit(1);
    }

    int sides = c->threads == 1 ? 3 : 2; /* 0 ggml graph, 1 ours, 2 ggml vec_dot (1 thread) */
    samples s[3] = { 0 }; double *ratio = xalloc(c->passes * sizeof(double)), *ratio_vd = xalloc(c->passes * sizeof(double));
    size_t mg = 0, mo = 0;
    size_t calls = c->dram ? (g.copies > (size_t)c->calls ? g.copies : (size_t)c->calls) : (size_t)c->calls;
    ggml_threadpool_pause(g.tp);
    for (int p = 0; p < c->passes; p++) {
        double med[3] = { 0 };
        for (int j = 0; j < sides; j++) {
            int side = (j + p) % sides;
            double *pt = xalloc(calls * sizeof(double));
            if (side == 0) ggml_threadpool_resume(g.tp);
            for (size_t i = 0; i < (size_t)c->warmup + calls; i++) {
                double t0 = now();
                if (side == 0) { ggml_call(&g, c, mg, yg); mg = (mg + 1) % g.copies; }
                else if (side == 2) { vd_call(&g, c, mg, x, yv); mg = (mg + 1) % g.copies; }
                else { our_call(&o, c, mo, x, yo); mo = (mo + 1) % o.copies; }
                double dt = now() - t0;
                if (i >= (size_t)c->warmup) { pt[i - c->warmup] = dt; add(&s[side], dt); }
            }
            if (side == 0) ggml_threadpool_pause(g.tp);
            /* libomp's idle team spins for KMP_BLOCKTIME (200 ms by default) after the last
             * region: wait it out, or the spinning thread takes the second vCPU from ggml's pool */
            if (side == 1 && c->threads > 1) usleep(300000);
            med[side] = pct(pt, calls, 0.5);
            free(pt);
        }
        ratio[p] = med[0] / med[1];
        if (sides == 3) ratio_vd[p] = med[2] / med[1];
    }
    double macs = (double)rows * cols * n;
    const char *tn = c->type == GGML_TYPE_TQ2_0 ? "TQ2_0" : "TQ1_0";
    double gm = pct(s[0].t, s[0].n, 0.5), gl = pct(s[0].t, s[0].n, 0.1), gh = pct(s[0].t, s[0].n, 0.9);
    double om = pct(s[1].t, s[1].n, 0.5), ol = pct(s[1].t, s[1].n, 0.1), oh = pct(s[1].t, s[1].n, 0.9);
    double rm = pct(ratio, c->passes, 0.5), rl = pct(ratio, c->passes, 0), rh = pct(ratio, c->passes, 1);
    printf("| %zu × %zu | %zu | %s | %d | %s %s | %.1f (%.1f–%.1f) · %.1f GMAC/s · %.1f GB/s | %s | %.1f (%.1f–%.1f) · %.1f GMAC/s · %.1f GB/s | **%.2f** (%.2f–%.2f) |",
           rows, cols, n, c->dram ? "dram" : "warm", c->threads, tn, build,
           gm * 1e6, gl * 1e6, gh * 1e6, macs / gm / 1e9, g.row_bytes * rows / gm / 1e9, isa,
           om * 1e6, ol * 1e6, oh * 1e6, macs / om / 1e9, bk_ternary_packed_bytes(rows, cols) / om / 1e9, rm, rl, rh);
    if (sides == 3) {
        double vm = pct(s[2].t, s[2].n, 0.5), vr = pct(ratio_vd, c->passes, 0.5);
        printf(" %.1f · %.2f |", vm * 1e6, vr);
    } else printf(" – |");
    printf(" %.0e / %.0e |\n", eg, eo);
    fflush(stdout);

    ggml_threadpool_free(g.tp); ggml_free(g.ctx);
    for (int i = 0; i < 3; i++) free(s[i].t);
    free(ratio); free(ratio_vd); free(yg); free(yv); free(yo); free(g.work); free(g.xq); free(g.w); free(o.w);
    free(o.q); free(o.xs); free(o.sums); free(ref); free(x); free(wf); free(t); free(rs);
}

int main(int argc, char **argv) {
    const char *shapes = "2560x2560,6912x2560,2560x6912,4096x4096", *tokens = "1,8", *threads = "1,2",
               *levels = "warm,dram", *types = "tq2_0", *isas = NULL, *build = "?";
    int passes = 5, calls = 40, warmup = 3; long dram_mib = 640;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("missing value after ", a);
        if (!strcmp(a, "--shapes")) shapes = v; else if (!strcmp(a, "--tokens")) tokens = v;
        else if (!strcmp(a, "--threads")) threads = v; else if (!strcmp(a, "--levels")) levels = v;
        else if (!strcmp(a, "--types")) types = v; else if (!strcmp(a, "--isa")) isas = v;
        else if (!strcmp(a, "--ggml-build")) build = v;
        else if (!strcmp(a, "--passes")) passes = (int)num(v, 1, 1000);
        else if (!strcmp(a, "--calls")) calls = (int)num(v, 1, 100000);
        else if (!strcmp(a, "--dram-mib")) dram_mib = num(v, 1, 8192);
        else die("unknown option ", a);
    }
    if (!isas) isas = strcmp(build, "native") ? "avx2" : "avx512";
    ggml_cpu_init();
    list ls = split(shapes), lt = split(tokens), lth = split(threads), ll = split(levels), lty = split(types), li = split(isas);
    printf("# ggml build %s (AVX2 %d, AVX512F %d, AVX512-VNNI %d, AVX-VNNI %d); passes %d, %d calls each (dram: a whole rotation of > %ld MiB per side)\n",
           build, ggml_cpu_has_avx2(), ggml_cpu_has_avx512(), ggml_cpu_has_avx512_vnni(), ggml_cpu_has_avx_vnni(), passes, calls, dram_mib);
    printf("| shape | n | level | threads | ggml | ggml µs p50 (p10–p90) · rate | ours | ours µs p50 (p10–p90) · rate | ggml / ours (min–max over passes) | vec_dot alone µs · / ours | rel. err ggml / ours |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t a = 0; a < lty.n; a++)
        for (size_t b = 0; b < ls.n; b++)
            for (size_t d = 0; d < lt.n; d++)
                for (size_t e = 0; e < ll.n; e++)
                    for (size_t f = 0; f < lth.n; f++)
                        for (size_t h = 0; h < li.n; h++) {
                            config c = { 0 };
                            if (!strcmp(lty.s[a], "tq2_0")) c.type = GGML_TYPE_TQ2_0;
                            else if (!strcmp(lty.s[a], "tq1_0")) c.type = GGML_TYPE_TQ1_0;
                            else die("type must be tq2_0 or tq1_0: ", lty.s[a]);
                            char *xp = strchr(ls.s[b], 'x');
                            if (!xp) die("shape must be ROWSxCOLS: ", ls.s[b]);
                            *xp = 0; c.rows = (size_t)num(ls.s[b], 1, 65536); c.cols = (size_t)num(xp + 1, 256, 65536); *xp = 'x';
                            if (c.cols % 256) die("columns must be a multiple of 256 (ggml's blocks): ", ls.s[b]);
                            c.n = (size_t)num(lt.s[d], 1, 64);
                            if (!strcmp(ll.s[e], "warm")) c.dram = 0; else if (!strcmp(ll.s[e], "dram")) c.dram = 1;
                            else die("level must be warm or dram: ", ll.s[e]);
                            c.threads = (int)num(lth.s[f], 1, 64);
                            bk_isa id;
                            if (!bk_isa_from_name(li.s[h], &id)) die("unknown ISA ", li.s[h]);
                            if (!bk_isa_supported(id)) die("ISA not supported here: ", li.s[h]);
                            c.k = bk_kernels_for(id);
                            c.passes = passes; c.calls = calls; c.warmup = warmup; c.dram_bytes = (size_t)dram_mib << 20;
                            run(&c, li.s[h], build);
                        }
    return 0;
}
