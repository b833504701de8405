/* neon_check.c — every kernel of every optimized table this CPU can run (under qemu-aarch64: the
 * NEON table) against the scalar reference, bit for bit, on random and edge shapes; then the
 * threaded wrappers, and the no-memory fallbacks (malloc made to fail). Ends with one line,
 * "N passed, M failed", and exits non-zero on any failure. Built and run by scripts/neon_check.sh;
 * also builds natively (then it checks the x86 tables). */
#include "bitkernels.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- malloc that can be made to fail (glibc: the executable's malloc replaces libc's) ------- */

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);

static volatile int malloc_fails;
void *malloc(size_t size) { return malloc_fails ? NULL : __libc_malloc(size); }
void *calloc(size_t count, size_t size) { return malloc_fails ? NULL : __libc_calloc(count, size); }
void *realloc(void *p, size_t size) { return malloc_fails ? NULL : __libc_realloc(p, size); }
void free(void *p) { __libc_free(p); }

/* ---- bookkeeping ---------------------------------------------------------------------------- */

static long passed, failed;
static const char *variant = "";

static void check(int ok, const char *fmt, ...) {
    if (ok) {
        passed++;
        return;
    }
    if (++failed <= 25) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "FAIL %s: ", variant);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static uint64_t rng_state = 0x5eed;
static uint64_t next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *alloc(size_t bytes) {
    void *p = __libc_malloc(bytes ? bytes : 1);
    if (p == NULL) abort();
    return p;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Word counts around vector, word and block boundaries. */
static const size_t word_counts[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000};

/* ---- bit-vector kernels --------------------------------------------------------------------- */

static void fill_words(uint64_t *w, size_t n, int pattern) {
    for (size_t i = 0; i < n; i++)
        w[i] = pattern == 0 ? next() : pattern == 1 ? ~0ull : pattern == 2 ? 0 : next() & next() & next();
}

static void check_bit_vectors(const bk_kernels *v, const bk_kernels *s) {
    for (size_t wi = 0; wi < COUNT(word_counts); wi++) {
        const size_t n = word_counts[wi];
        uint64_t *a = alloc((n + 1) * 8), *b = alloc((n + 1) * 8), *m = alloc((n + 1) * 8);
        for (int pattern = 0; pattern < 4; pattern++)
            for (size_t off = 0; off < 2; off++) { /* off 1: a start one word past the allocation */
                if (off && n == 0) continue;
                const size_t len = n - off;
                fill_words(a, n + 1, pattern);
                fill_words(b, n + 1, (pattern + 1) % 4);
                check(v->popcount(a + off, len) == s->popcount(a + off, len), "popcount %zu words", len);
                const bk_pair_counts pv = v->pair_counts(a + off, b + off, len), ps = s->pair_counts(a + off, b + off, len);
                check(pv.and_count == ps.and_count && pv.xor_count == ps.xor_count && pv.or_count == ps.or_count,
                      "pair_counts %zu words", len);
                uint64_t *cv = alloc((n + 1) * 8), *cs = alloc((n + 1) * 8);
                fill_words(m, n + 1, 0);
                memcpy(cv, a, (n + 1) * 8);
                memcpy(cs, a, (n + 1) * 8);
                v->masked_flip(cv + off, b + off, m + off, len);
                s->masked_flip(cs + off, b + off, m + off, len);
                check(memcmp(cv, cs, (n + 1) * 8) == 0, "masked_flip %zu words", len);
                __libc_free(cv);
                __libc_free(cs);
            }
        /* Row counts: several rows, strides equal to and beyond the word count. */
        static const size_t row_counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33};
        for (size_t ri = 0; ri < COUNT(row_counts); ri++)
            for (size_t pad = 0; pad < 4; pad += 3) {
                const size_t rows = row_counts[ri], stride = n + pad;
                uint64_t *r = alloc((rows * stride + 1) * 8), *q = alloc((n + 1) * 8);
                fill_words(r, rows * stride + 1, ri % 4);
                fill_words(q, n + 1, 0);
                uint32_t ov[40], os[40];
                memset(ov, 0xab, sizeof ov);
                memset(os, 0xab, sizeof os);
                v->and_counts(q, r, stride, n, rows, ov);
                s->and_counts(q, r, stride, n, rows, os);
                check(memcmp(ov, os, sizeof ov) == 0, "and_counts %zu words, %zu rows, stride %zu", n, rows, stride);
                memset(ov, 0xab, sizeof ov);
                memset(os, 0xab, sizeof os);
                v->row_popcounts(r, stride, n, rows, ov);
                s->row_popcounts(r, stride, n, rows, os);
                check(memcmp(ov, os, sizeof ov) == 0, "row_popcounts %zu words, %zu rows, stride %zu", n, rows, stride);
                __libc_free(r);
                __libc_free(q);
            }
        /* Random bits: same words and the same generator state afterwards. */
        static const uint32_t thresholds[] = {0, 1, 255, 256, 32768, 65535, 65536, 12345};
        for (size_t ti = 0; ti < COUNT(thresholds); ti++) {
            bk_rng rv, rs;
            bk_rng_seed(&rv, n * 31 + ti);
            bk_rng_seed(&rs, n * 31 + ti);
            uint64_t *ov = alloc((n + 1) * 8), *os = alloc((n + 1) * 8);
            ov[n] = os[n] = 0x1234;
            v->random_bits(&rv, ov, n, thresholds[ti]);
            s->random_bits(&rs, os, n, thresholds[ti]);
            check(memcmp(ov, os, (n + 1) * 8) == 0 && memcmp(&rv, &rs, sizeof rv) == 0,
                  "random_bits %zu words, threshold %u", n, thresholds[ti]);
            __libc_free(ov);
            __libc_free(os);
        }
        __libc_free(a);
        __libc_free(b);
        __libc_free(m);
    }
}

/* ---- activation quantizer ------------------------------------------------------------------- */

static void check_quantizer(const bk_kernels *v, const bk_kernels *s) {
    for (size_t n = 0; n <= 70 + 2; n++) {
        const size_t count = n <= 70 ? n : n == 71 ? 256 : 1000;
        for (int kind = 0; kind < 3; kind++) {
            float *x = alloc(count * sizeof(float) + 4);
            for (size_t i = 0; i < count; i++) {
                const double u = (double)(next() >> 11) / 9007199254740992.0;
                /* kind 1: halves with max |x| = 127, so s = 1 and every .5 is a tie to even */
                x[i] = kind == 0 ? (float)((u - 0.5) * 20) : kind == 1 ? (float)((int)(next() % 509) - 254) / 2 : 0.0f;
            }
            if (kind == 1 && count > 0) x[next() % count] = 127;
            int8_t qv[1001], qs[1001];
            int32_t sv = 1, ss = 2;
            memset(qv, 0x5a, sizeof qv);
            memset(qs, 0x5a, sizeof qs);
            const float scale_v = v->quantize_token(x, count, qv, &sv), scale_s = s->quantize_token(x, count, qs, &ss);
            check(memcmp(&scale_v, &scale_s, sizeof scale_v) == 0 && sv == ss && memcmp(qv, qs, sizeof qv) == 0,
                  "quantize_token %zu values, kind %d", count, kind);
            __libc_free(x);
        }
    }
}

/* ---- ternary products ----------------------------------------------------------------------- */

static void check_ternary(const bk_kernels *v, const bk_kernels *s) {
    static const size_t cols_list[] = {1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 2560};
    static const size_t rows_list[] = {1, 2, 3, 4, 5, 7, 8, 9, 17};
    static const size_t tokens_list[] = {1, 2, 3, 4, 5, 8, 9};
    for (size_t ci = 0; ci < COUNT(cols_list); ci++)
        for (size_t ri = 0; ri < COUNT(rows_list); ri++)
            for (int extreme = 0; extreme < 2; extreme++) {
                const size_t cols = cols_list[ci], rows = rows_list[ri], blocks = bk_ternary_block_count(cols);
                const size_t x_stride = blocks * BK_TERNARY_BLOCK, max_tokens = 9;
                int8_t *w = alloc(rows * cols), *x = alloc(max_tokens * x_stride);
                uint8_t *packed = alloc(bk_ternary_packed_bytes(rows, cols));
                const int8_t wv = (int8_t)(ri % 2 ? 1 : -1), xv = (int8_t)(ci % 2 ? 127 : -128);
                for (size_t i = 0; i < rows * cols; i++) w[i] = extreme ? wv : (int8_t)((int)(next() % 3) - 1);
                memset(x, 0, max_tokens * x_stride);
                int32_t sums[9] = {0};
                for (size_t t = 0; t < max_tokens; t++)
                    for (size_t c = 0; c < cols; c++) {
                        x[t * x_stride + c] = extreme ? xv : (int8_t)next();
                        sums[t] += x[t * x_stride + c];
                    }
                bk_ternary_pack(w, rows, cols, packed);
                for (size_t ti = 0; ti < COUNT(tokens_list); ti++) {
                    const size_t tokens = tokens_list[ti], out_stride = rows + 1;
                    int32_t ov[9 * 18 + 1], os[9 * 18 + 1];
                    memset(ov, 0x77, sizeof ov);
                    memset(os, 0x77, sizeof os);
                    v->ternary_matmul(packed, blocks, rows, x, x_stride, sums, tokens, ov, out_stride);
                    s->ternary_matmul(packed, blocks, rows, x, x_stride, sums, tokens, os, out_stride);
                    check(memcmp(ov, os, sizeof ov) == 0, "ternary_matmul %zu x %zu, %zu tokens%s", rows, cols,
                          tokens, extreme ? ", extreme values" : "");
                }
                __libc_free(w);
                __libc_free(x);
                __libc_free(packed);
            }
}

/* ---- float row products --------------------------------------------------------------------- */

static float random_float(void) { return (float)((double)(int64_t)(next() % 2000001 - 1000000) / 250000.0); }

static void check_float_dots(const bk_kernels *v, const bk_kernels *s) {
    static const size_t n_list[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 2560};
    for (size_t ni = 0; ni < COUNT(n_list); ni++)
        for (size_t rows = 1; rows <= 5; rows += 2)
            for (size_t pad = 0; pad < 6; pad += 5) {
                const size_t n = n_list[ni], stride = n + pad;
                uint16_t *b = alloc(rows * stride * 2 + 2);
                int8_t *q = alloc(rows * stride + 1);
                float *x = alloc(n * 4 + 4);
                for (size_t i = 0; i < rows * stride; i++) {
                    const float f = random_float();
                    uint32_t bits;
                    memcpy(&bits, &f, 4);
                    b[i] = (uint16_t)(bits >> 16);
                    q[i] = (int8_t)next();
                }
                for (size_t i = 0; i < n; i++) x[i] = random_float();
                /* Several tokens (the batched LM head): 3 tokens n + 1 apart, outputs 6 apart. */
                float *xt = alloc(3 * (n + 1) * 4 + 4), tv[18], ts[18];
                for (size_t i = 0; i < 3 * (n + 1); i++) xt[i] = random_float();
                for (size_t tokens = 1; tokens <= 3; tokens++) {
                    memset(tv, 0x3c, sizeof tv);
                    memset(ts, 0x3c, sizeof ts);
                    v->bf16_dots_tokens(b, stride, n, rows, xt, n + 1, tokens, tv, 6);
                    s->bf16_dots_tokens(b, stride, n, rows, xt, n + 1, tokens, ts, 6);
                    check(memcmp(tv, ts, sizeof tv) == 0, "bf16_dots_tokens n %zu, %zu rows, %zu tokens", n, rows, tokens);
                }
                __libc_free(xt);
                float ov[6], os[6];
                memset(ov, 0x3c, sizeof ov);
                memset(os, 0x3c, sizeof os);
                v->bf16_dots(b, stride, n, rows, x, ov);
                s->bf16_dots(b, stride, n, rows, x, os);
                check(memcmp(ov, os, sizeof ov) == 0, "bf16_dots n %zu, %zu rows, stride %zu", n, rows, stride);
                memset(ov, 0x3c, sizeof ov);
                memset(os, 0x3c, sizeof os);
                v->i8_dots(q, stride, n, rows, x, ov);
                s->i8_dots(q, stride, n, rows, x, os);
                check(memcmp(ov, os, sizeof ov) == 0, "i8_dots n %zu, %zu rows, stride %zu", n, rows, stride);
                __libc_free(b);
                __libc_free(q);
                __libc_free(x);
            }
}

/* ---- image encoders ------------------------------------------------------------------------- */

/* RMSNorm and its gradients: the same bits as the scalar reference (training.c fixes the sums). */
static void check_rmsnorm(const bk_kernels *v, const bk_kernels *s) {
    static const size_t counts[] = {1, 7, 8, 9, 16, 17, 33, 128, 344, 1000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        const size_t n = counts[c], tokens = 3, stride = n + 3;
        float *x = alloc(n * 4), *w = alloc(n * 4), *g = alloc(n * 4), *yv = alloc(n * 4), *ys = alloc(n * 4);
        float *xs = alloc(tokens * stride * 4), *gs = alloc(tokens * stride * 4), r[3];
        double *av = alloc(n * 8), *as = alloc(n * 8);
        for (size_t i = 0; i < n; i++) { x[i] = random_float(); w[i] = random_float(); g[i] = random_float(); }
        for (size_t i = 0; i < tokens * stride; i++) { xs[i] = random_float(); gs[i] = random_float(); }
        for (size_t t = 0; t < tokens; t++) r[t] = random_float();
        const float rv = v->rmsnorm(x, w, n, 1e-5f, yv), rs = s->rmsnorm(x, w, n, 1e-5f, ys);
        check(rv == rs && memcmp(yv, ys, n * 4) == 0, "rmsnorm n %zu", n);
        for (int accumulate = 0; accumulate <= 1; accumulate++) {
            for (size_t i = 0; i < n; i++) yv[i] = ys[i] = (float)i;
            v->rmsnorm_backward(x, w, g, rv, n, accumulate, yv);
            s->rmsnorm_backward(x, w, g, rv, n, accumulate, ys);
            check(memcmp(yv, ys, n * 4) == 0, "rmsnorm_backward n %zu accumulate %d", n, accumulate);
        }
        for (size_t i = 0; i < n; i++) av[i] = as[i] = (double)i;
        v->rmsnorm_weight_sums(xs, gs, stride, r, tokens, n, av);
        s->rmsnorm_weight_sums(xs, gs, stride, r, tokens, n, as);
        check(memcmp(av, as, n * 8) == 0, "rmsnorm_weight_sums n %zu", n);
        __libc_free(x); __libc_free(w); __libc_free(g); __libc_free(yv); __libc_free(ys);
        __libc_free(xs); __libc_free(gs); __libc_free(av); __libc_free(as);
    }
}

/* The training step's element-wise kernels (training.c) and sum_squares: the scalar reference's bits. */
static void check_training(const bk_kernels *v, const bk_kernels *s) {
    static const size_t counts[] = {1, 7, 8, 9, 15, 16, 17, 33, 64, 344, 1000};
    for (size_t c = 0; c < COUNT(counts); c++) {
        const size_t n = counts[c];
        float *x = alloc(n * 4), *g = alloc(n * 4), *u = alloc(n * 4);
        float *a[6], *b[6];
        for (int k = 0; k < 6; k++) { a[k] = alloc(n * 4); b[k] = alloc(n * 4); }
        int8_t *q = alloc(n), *prev = alloc(n), *ca = alloc(n), *cb = alloc(n);
        for (size_t i = 0; i < n; i++) {
            x[i] = random_float(); g[i] = random_float(); u[i] = random_float();
            q[i] = (int8_t)next(); prev[i] = (int8_t)(next() % 3) - 1;
        }
        const double sv = v->sum_squares(x, n), ss = s->sum_squares(x, n);
        check(memcmp(&sv, &ss, 8) == 0, "sum_squares n %zu", n);

        const bk_adamw_step k = {0.75f, 0.9999f, 0.9f, 0.99f, 3.7e-3f, 0.0597f, 1e-8f};
        for (size_t i = 0; i < n; i++) { a[0][i] = b[0][i] = x[i]; a[1][i] = b[1][i] = u[i]; a[2][i] = b[2][i] = g[i] * g[i]; }
        v->adamw_update(a[0], g, a[1], a[2], n, &k);
        s->adamw_update(b[0], g, b[1], b[2], n, &k);
        check(memcmp(a[0], b[0], n * 4) == 0 && memcmp(a[1], b[1], n * 4) == 0 && memcmp(a[2], b[2], n * 4) == 0, "adamw_update n %zu", n);

        for (int binary = 0; binary <= 1; binary++) {
            float sa, sb, ea, eb;
            const size_t fa = v->requantize(x, n, binary, prev, ca, a[3], &sa, &ea);
            const size_t fb = s->requantize(x, n, binary, prev, cb, b[3], &sb, &eb);
            check(fa == fb && sa == sb && ea == eb && memcmp(ca, cb, n) == 0 && memcmp(a[3], b[3], n * 4) == 0,
                  "requantize n %zu binary %d", n, binary);
        }

        v->relu2_times(g, u, a[4], n);
        s->relu2_times(g, u, b[4], n);
        check(memcmp(a[4], b[4], n * 4) == 0, "relu2_times n %zu", n);
        v->relu2_backward(g, u, x, a[4], a[5], n);
        s->relu2_backward(g, u, x, b[4], b[5], n);
        check(memcmp(a[4], b[4], n * 4) == 0 && memcmp(a[5], b[5], n * 4) == 0, "relu2_backward n %zu", n);
        v->dequantize_token(q, n, 3.7f, a[4]);
        s->dequantize_token(q, n, 3.7f, b[4]);
        check(memcmp(a[4], b[4], n * 4) == 0, "dequantize_token n %zu", n);

        const size_t lasts[] = {0, n / 3, n - 1};
        for (size_t l = 0; l < COUNT(lasts); l++) {
            for (size_t i = 0; i < n; i++) a[5][i] = b[5][i] = x[i] * 20.0f; /* differences to −80 */
            v->softmax_row(a[5], lasts[l], n);
            s->softmax_row(b[5], lasts[l], n);
            check(memcmp(a[5], b[5], n * 4) == 0, "softmax_row n %zu last %zu", n, lasts[l]);
        }
        /* RoPE: n values as heads × d (d even), angles from x. */
        for (size_t d = 2; d <= n && d <= 130; d += (d < 40 ? 2 : 32)) {
            const size_t heads = n / d;
            for (int inverse = 0; inverse <= 1; inverse++) {
                for (size_t i = 0; i < n; i++) a[5][i] = b[5][i] = x[i];
                for (size_t i = 0; i < d / 2; i++) { a[4][i] = cosf(3.0f * g[i]); b[4][i] = sinf(3.0f * g[i]); }
                v->rope_rotate(a[5], heads, d, a[4], b[4], inverse);
                s->rope_rotate(b[5], heads, d, a[4], b[4], inverse);
                check(memcmp(a[5], b[5], n * 4) == 0, "rope_rotate n %zu d %zu inverse %d", n, d, inverse);
            }
        }
        /* Decoding attention of one head: q = x, keys g and values u as positions × stride (one or
         * two kv heads), scores and out in the scratch rows. */
        const size_t dims[] = {1, 8, 15, 16, 20, 64};
        for (size_t di = 0; di < COUNT(dims); di++) {
            for (size_t heads = 1; heads <= 2; heads++) {
                const size_t d = dims[di], stride = heads * d, positions = n / stride;
                if (positions == 0) continue;
                v->attention_token(x, g, u, positions, stride, d, 0.3f, a[4], a[5]);
                s->attention_token(x, g, u, positions, stride, d, 0.3f, b[4], b[5]);
                check(memcmp(a[4], b[4], positions * 4) == 0 && memcmp(a[5], b[5], d * 4) == 0,
                      "attention_token n %zu d %zu stride %zu", n, d, stride);
            }
        }
        __libc_free(x); __libc_free(g); __libc_free(u); __libc_free(q); __libc_free(prev); __libc_free(ca); __libc_free(cb);
        for (int j = 0; j < 6; j++) { __libc_free(a[j]); __libc_free(b[j]); }
    }
}

static void check_encoders(const bk_kernels *v, const bk_kernels *s) {
    for (size_t n = 0; n <= 70 + 5; n++) {
        const size_t pixels = n <= 70 ? n : (size_t[]){127, 128, 129, 784, 1000}[n - 71];
        const size_t words = (pixels + 63) / 64;
        for (int kind = 0; kind < 3; kind++) {
            uint8_t *p = alloc(pixels + 1);
            for (size_t i = 0; i < pixels; i++) /* kind 1: few intensities, many ties; kind 2: 0/255 */
                p[i] = kind == 0 ? (uint8_t)next() : kind == 1 ? (uint8_t)(next() % 4 * 60) : (uint8_t)(next() % 2 * 255);
            uint64_t ov[17], os[17];
            static const int levels[] = {0, 1, 59, 60, 127, 128, 254, 255};
            for (size_t li = 0; li < COUNT(levels); li++) {
                memset(ov, 0xee, sizeof ov);
                memset(os, 0xee, sizeof os);
                v->encode_threshold(p, pixels, (uint8_t)levels[li], ov);
                s->encode_threshold(p, pixels, (uint8_t)levels[li], os);
                check(memcmp(ov, os, sizeof ov) == 0, "encode_threshold %zu pixels, level %d", pixels, levels[li]);
            }
            const size_t ks[] = {0, 1, pixels / 3, pixels / 2, pixels ? pixels - 1 : 0, pixels};
            for (size_t ki = 0; ki < COUNT(ks); ki++) {
                memset(ov, 0xee, sizeof ov);
                memset(os, 0xee, sizeof os);
                v->encode_rank(p, pixels, ks[ki], ov);
                s->encode_rank(p, pixels, ks[ki], os);
                check(memcmp(ov, os, sizeof ov) == 0 && words <= 16, "encode_rank %zu pixels, k %zu", pixels, ks[ki]);
            }
            __libc_free(p);
        }
    }
}

/* ---- threaded wrappers and no-memory fallbacks ---------------------------------------------- */

static int same_match(bk_match a, bk_match b) {
    return a.row == b.row && memcmp(&a.score, &b.score, sizeof a.score) == 0 && a.shared == b.shared &&
           a.differing == b.differing;
}

/* Scoring, binary and ternary products through the wrappers: the variant on two threads against
 * the reference on one, and with every malloc failing against the same call with memory. */
static void check_wrappers(const bk_kernels *v, const bk_kernels *s) {
    const size_t word_count = 13, rows_n = 20000, queries = 5, top = 150;
    uint64_t *words = alloc(rows_n * word_count * 8), *q = alloc(queries * word_count * 8);
    fill_words(words, rows_n * word_count, 3);
    fill_words(q, queries * word_count, 0);
    for (int with_pops = 0; with_pops < 2; with_pops++) {
        uint32_t *pops = alloc(rows_n * 4);
        s->row_popcounts(words, word_count, word_count, rows_n, pops);
        const bk_rows rows = {words, word_count, word_count, rows_n, with_pops ? pops : NULL};
        for (int kind = 0; kind < 4; kind++) {
            bk_match mv[150], ms[150], mf[150], bv[5], bs[5], bf[5];
            const bk_match wv = bk_score_winner(v, kind, q, &rows, 2), ws = bk_score_winner(s, kind, q, &rows, 1);
            const size_t nv = bk_score_top(v, kind, q, &rows, top, mv, 2), ns = bk_score_top(s, kind, q, &rows, top, ms, 1);
            bk_score_winners_batch(v, kind, q, word_count, queries, &rows, bv, 2);
            bk_score_winners_batch(s, kind, q, word_count, queries, &rows, bs, 1);
            malloc_fails = 1;
            const bk_match wf = bk_score_winner(v, kind, q, &rows, 2);
            const size_t nf = bk_score_top(v, kind, q, &rows, top, mf, 2);
            bk_score_winners_batch(v, kind, q, word_count, queries, &rows, bf, 2);
            malloc_fails = 0;
            check(same_match(wv, ws) && same_match(wf, ws), "score_winner kind %d", kind);
            int same_top = nv == ns && nf == ns;
            for (size_t i = 0; same_top && i < ns; i++) same_top = same_match(mv[i], ms[i]) && same_match(mf[i], ms[i]);
            check(same_top, "score_top kind %d (without memory: %zu rows)", kind, nf);
            int same_batch = 1;
            for (size_t i = 0; i < queries; i++) same_batch &= same_match(bv[i], bs[i]) && same_match(bf[i], bs[i]);
            check(same_batch, "score_winners_batch kind %d", kind);
        }
        if (with_pops) { /* binary products need row popcounts; 70 tokens: more than the stack's 64 */
            const size_t tokens = 70, rows_b = 300;
            const bk_rows rb = {words, word_count, word_count, rows_b, pops};
            int32_t *ov = alloc(tokens * rows_b * 4), *os = alloc(tokens * rows_b * 4), *of = alloc(tokens * rows_b * 4);
            bk_binary_matmul(v, &rb, word_count * 64, words + 1000 * word_count, word_count, tokens, ov, rows_b, 2);
            bk_binary_matmul(s, &rb, word_count * 64, words + 1000 * word_count, word_count, tokens, os, rows_b, 1);
            malloc_fails = 1;
            bk_binary_matmul(v, &rb, word_count * 64, words + 1000 * word_count, word_count, tokens, of, rows_b, 2);
            malloc_fails = 0;
            check(memcmp(ov, os, tokens * rows_b * 4) == 0 && memcmp(of, os, tokens * rows_b * 4) == 0,
                  "binary_matmul 70 tokens x 300 rows");
            __libc_free(ov);
            __libc_free(os);
            __libc_free(of);
        }
        __libc_free(pops);
    }
    __libc_free(words);
    __libc_free(q);

    /* Ternary float outputs: 32 tokens x 6,912 rows (885 KB of int32 products), no memory needed. */
    const size_t rows = 6912, cols = 256, tokens = 32, stride = 256;
    int8_t *w = alloc(rows * cols), *x = alloc(tokens * stride);
    uint8_t *packed = alloc(bk_ternary_packed_bytes(rows, cols));
    float *scales = alloc(rows * 4), *xs = alloc(tokens * 4), *xf = alloc(tokens * cols * 4);
    float *yv = alloc(tokens * rows * 4), *ys = alloc(tokens * rows * 4);
    int32_t sums[32];
    for (size_t i = 0; i < rows * cols; i++) w[i] = (int8_t)((int)(next() % 3) - 1);
    for (size_t i = 0; i < rows; i++) scales[i] = (float)(next() % 1000 + 1) / 997;
    for (size_t i = 0; i < tokens * cols; i++) xf[i] = random_float();
    bk_ternary_pack(w, rows, cols, packed);
    bk_quantize_tokens(v, xf, cols, cols, tokens, x, stride, xs, sums);
    const bk_ternary_matrix m = {packed, rows, cols, bk_ternary_block_count(cols), scales};
    bk_ternary_matmul_f32(s, &m, x, stride, sums, xs, tokens, ys, rows, 1);
    malloc_fails = 1;
    bk_ternary_matmul_f32(v, &m, x, stride, sums, xs, tokens, yv, rows, 2);
    malloc_fails = 0;
    check(memcmp(yv, ys, tokens * rows * 4) == 0, "ternary_matmul_f32 32 tokens x 6912 rows");
    __libc_free(w);
    __libc_free(x);
    __libc_free(packed);
    __libc_free(scales);
    __libc_free(xs);
    __libc_free(xf);
    __libc_free(yv);
    __libc_free(ys);
}

int main(void) {
    const bk_kernels *s = bk_kernels_for(BK_ISA_SCALAR);
    int variants = 0;
    for (int isa = 0; isa < BK_ISA_COUNT; isa++) {
        const bk_kernels *v = bk_kernels_for((bk_isa)isa);
        if (v == NULL || isa == BK_ISA_SCALAR) continue;
        variants++;
        variant = bk_isa_name((bk_isa)isa);
        const long before = passed + failed;
        check_bit_vectors(v, s);
        check_quantizer(v, s);
        check_ternary(v, s);
        check_float_dots(v, s);
        check_encoders(v, s);
        check_rmsnorm(v, s);
        check_training(v, s);
        check_wrappers(v, s);
        printf("%s%s: %ld checks\n", variant, isa == BK_ISA_NEON && bk_cpu_detect()->dotprod ? " (dotprod)" : "",
               passed + failed - before);
    }
    if (variants == 0) check(0, "no optimized variant runs on this CPU");
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
