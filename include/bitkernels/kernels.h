/*
 * bitkernels/kernels.h — the bit-vector kernels: CPU features, the table of kernel variants and
 * its dispatch, random masks, and one-vs-many / many-vs-many scoring.
 *
 * Bit-vector layout. A vector of `width` bits is stored in ceil(width / 64) little-endian 64-bit
 * words: bit i lives in word i / 64 at bit position i % 64. Bits at positions >= width ("padding")
 * are zero; every kernel relies on that and every kernel that writes keeps it so. A matrix of
 * vectors stores row r at words[r * stride_words ...], stride_words >= word_count; the words
 * between word_count and stride_words are never read.
 *
 * Example: width 70 → 2 words. Setting bits 0, 3 and 69 gives
 *   word[0] = 0x0000000000000009, word[1] = 0x0000000000000020 (bits 6..63 of word 1 are padding).
 *
 * Dispatch. Every kernel family has a portable scalar reference and AVX2, AVX-512 and NEON
 * variants compiled into the same binary, plus an AVX-VNNI table (AVX2 code, VPDPBUSD on ymm for the
 * ternary products) for CPUs with AVX-VNNI but no AVX-512. Priority: avx512, avxvnni, avx2, neon,
 * scalar. bk_kernels_best() picks the best variant the CPU and OS support (or the one named by the environment variable BITKERNELS_ISA); bk_kernels_for() returns
 * a specific variant, or NULL when this CPU cannot run it.
 */
#ifndef BITKERNELS_KERNELS_H
#define BITKERNELS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * CPU features and instruction-set variants
 * ------------------------------------------------------------------------------------------- */

typedef enum bk_isa {
    BK_ISA_SCALAR = 0,
    BK_ISA_AVX2 = 1,   /* x86-64: AVX2 + BMI2 + POPCNT + FMA */
    BK_ISA_AVX512 = 2, /* x86-64: AVX-512 F/BW/VL + VPOPCNTDQ + VNNI (Ice Lake, Zen 4 and later) */
    BK_ISA_NEON = 3,   /* aarch64: Advanced SIMD */
    BK_ISA_AVXVNNI = 4, /* x86-64: the AVX2 table with AVX-VNNI (VEX VPDPBUSD on ymm) for
                           ternary_matmul; chosen where AVX-512 is absent (Alder Lake and later
                           client cores, Zen 5 client parts). Numbered last to keep the values. */
    BK_ISA_COUNT = 5
} bk_isa;

/* What the CPU and the operating system both support (x86: CPUID and XGETBV). */
typedef struct bk_cpu_features {
    bool popcnt, bmi2, fma, avx2;
    bool avx512f, avx512bw, avx512vl, avx512_vpopcntdq, avx512_vnni;
    bool avx_vnni;
    bool gfni; /* GF2P8AFFINEQB (with avx512f: on zmm); Ice Lake+, Zen 4+ */
    bool neon, dotprod;
    bool intel, amd; /* CPUID vendor: GenuineIntel, AuthenticAMD (per-CPU tuning choices) */
    bool amx_tile, amx_int8; /* AMX: CPUID and XCR0 tile state (no kernel uses it yet) */
    char brand[64]; /* CPU model name, NUL-terminated; empty when unknown */
} bk_cpu_features;

/* Detected once, thread-safely; the pointer stays valid for the life of the process. */
const bk_cpu_features *bk_cpu_detect(void);

/* "scalar", "avx2", "avx512", "neon", "avxvnni"; "unknown" for anything else. */
const char *bk_isa_name(bk_isa isa);

/* Parses a name as above (case-insensitive). Returns false when the name is not an ISA. */
bool bk_isa_from_name(const char *name, bk_isa *out);

/* True when this binary contains the variant and the CPU and OS can run it. */
bool bk_isa_supported(bk_isa isa);

/* ---------------------------------------------------------------------------------------------
 * Kernels
 * ------------------------------------------------------------------------------------------- */

typedef struct bk_pair_counts {
    uint64_t and_count; /* |a AND b|: shared bits */
    uint64_t xor_count; /* |a XOR b|: differing bits (Hamming distance) */
    uint64_t or_count;  /* |a OR b|: union */
} bk_pair_counts;

/* Deterministic random-bit generator: four xoshiro256** streams, interleaved word by word, so
 * that scalar and SIMD variants produce the same bits for the same seed. */
typedef struct bk_rng {
    uint64_t s[4][4]; /* s[word][lane] */
} bk_rng;

/* One variant of every kernel. Variants of one kernel share one signature. */
/* The constants of one AdamW step (bk_kernels.adamw_update). */
typedef struct bk_adamw_step {
    float factor;     /* gradient clipping factor (1: none) */
    float decay;      /* 1 − lr · weight decay (1: none) */
    float beta1, beta2;
    float step_size;  /* lr / (1 − β1ᵗ) */
    float bias2_root; /* √(1 − β2ᵗ) */
    float epsilon;
} bk_adamw_step;

typedef struct bk_kernels {
    bk_isa isa;

    /* Σ popcount(words[i]) for i < word_count. */
    uint64_t (*popcount)(const uint64_t *words, size_t word_count);

    /* |a AND b|, |a XOR b| and |a OR b| in one pass over both buffers. */
    bk_pair_counts (*pair_counts)(const uint64_t *a, const uint64_t *b, size_t word_count);

    /* For each row r < row_count: out[r] = |query AND rows[r]|, rows at rows + r * stride_words.
     * The inner loop of one-vs-many scoring; counts must fit in 32 bits (width < 2^32). */
    void (*and_counts)(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                       size_t word_count, size_t row_count, uint32_t *out);

    /* For each row r: out[r] = popcount(rows[r]). */
    void (*row_popcounts)(const uint64_t *rows, size_t stride_words, size_t word_count,
                          size_t row_count, uint32_t *out);

    /* cur[i] ^= (target[i] ^ cur[i]) & mask[i]: copy target's bits where mask is set. */
    void (*masked_flip)(uint64_t *cur, const uint64_t *target, const uint64_t *mask,
                        size_t word_count);

    /* Fills out[0 .. word_count) with Bernoulli bits: each bit is set with probability
     * threshold / 65536 (threshold 0 → all zero, 65536 → all one), advancing rng. */
    void (*random_bits)(bk_rng *rng, uint64_t *out, size_t word_count, uint32_t threshold);

    /* Absmax int8 quantization of one token: s = 127 / max(max|x|, 1e-5),
     * q[i] = clamp(round_half_even(x[i] * s), -128, 127). Returns s; *sum = Σ q[i].
     * x must be finite. */
    float (*quantize_token)(const float *x, size_t count, int8_t *q, int32_t *sum);

    /* Exact integer products of packed ternary rows with int8 tokens (layout below):
     * out[t * out_stride + r] = Σ_k W[r,k] · x_t[k] for r < row_count, t < token_count.
     * Token t's int8 values start at x + t * x_stride (x_stride >= block_count * 256, zero
     * beyond the matrix's columns) and x_sums[t] = Σ of its values. */
    void (*ternary_matmul)(const uint8_t *packed, size_t block_count, size_t row_count,
                           const int8_t *x, size_t x_stride, const int32_t *x_sums,
                           size_t token_count, int32_t *out, size_t out_stride);

    /* out[r] = Σ_i row_r[i] · x[i] for bf16 or int8 rows (row r at rows + r * stride), in the one
     * summation order every variant follows (float_gemv.c), so all variants agree bit for bit. */
    void (*bf16_dots)(const uint16_t *rows, size_t stride, size_t n, size_t row_count,
                      const float *x, float *out);
    /* The bf16 products for several tokens at once, each row read once for all of them:
     * out[t * out_stride + r] = bf16_dots of row r with x + t * x_stride, bit for bit. */
    void (*bf16_dots_tokens)(const uint16_t *rows, size_t stride, size_t n, size_t row_count,
                             const float *x, size_t x_stride, size_t token_count, float *out,
                             size_t out_stride);
    void (*i8_dots)(const int8_t *rows, size_t stride, size_t n, size_t row_count, const float *x,
                    float *out);

    /* n 8-bit pixels to an n-bit vector (ceil(n / 64) words, padding zero). Threshold: bit i =
     * p[i] > level. Rank: exactly k bits (k <= n), the k brightest pixels; among pixels equal to the
     * cut-off intensity the lowest indices are taken. */
    void (*encode_threshold)(const uint8_t *p, size_t n, uint8_t level, uint64_t *out);
    void (*encode_rank)(const uint8_t *p, size_t n, size_t k, uint64_t *out);

    /* Rank encoding of a rows × cols image (n = rows · cols pixels) with the `blur` tie rule:
     * exactly k bits (k <= n), the k brightest pixels; among pixels equal to the cut-off intensity
     * those whose 3 × 3 neighbourhood sum (edges clipped) is largest, then the lowest indices.
     * scratch: n uint16 of caller memory, overwritten. */
    void (*encode_rank_blur)(const uint8_t *p, size_t rows, size_t cols, size_t k, uint16_t *scratch,
                             uint64_t *out);

    /* RMSNorm of one token (training.c: the summation orders every variant follows): ss = Σ x[i]²
     * in double, r = 1 / sqrtf((float)(ss / n) + eps), y[i] = w[i] · (x[i] · r); returns r. */
    float (*rmsnorm)(const float *x, const float *w, size_t n, float eps, float *y);
    /* Its gradient for one token with upstream g: m = Σ (w[i] · g[i]) · (x[i] · r) / n, and
     * d[i] = r · (w[i] · g[i] − (x[i] · r) · m) written to dx (or added, when accumulate). */
    void (*rmsnorm_backward)(const float *x, const float *w, const float *g, float r, size_t n,
                             bool accumulate, float *dx);
    /* The weight gradient's sums over tokens: acc[i] += Σ_t (double)(g_t[i] · (x_t[i] · r[t])),
     * t in order, for columns i < width; token t's values at x + t · stride, g + t · stride. */
    void (*rmsnorm_weight_sums)(const float *x, const float *g, size_t stride, const float *r,
                                size_t tokens, size_t width, double *acc);
    /* Σ x[i]² in double, summed as rmsnorm's ss (the gradient norm's sums). */
    double (*sum_squares)(const float *x, size_t n);

    /* The element-wise passes of a training step (training.c; every variant the same bits).
     * One AdamW update of n weights: g' = g · factor; w ← w · decay; m ← m + (g' − m)(1 − β1);
     * v ← v β2 + ((1 − β2) g') g'; w ← w − (step_size · m) / (√v / bias2_root + epsilon). */
    void (*adamw_update)(float *w, const float *g, float *m, float *v, size_t n, const bk_adamw_step *k);
    /* Codes of n latent weights with scale s = max(mean |w|, 1e-5): ternary round(w / s) clipped
     * to ±1 (half to even, as bk_ternarize_absmean), or binary sign(w − mean w) with sign(0) = +1
     * and the mean in *centre (0 for ternary); dequantized[i] = code · s; returns how many codes
     * differ from previous (0 when previous is NULL). */
    size_t (*requantize)(const float *w, size_t n, bool binary, const int8_t *previous, int8_t *codes,
                         float *dequantized, float *scale, float *centre);
    /* row[0..last] ← softmax(row[0..last]) (exponentials within 2 ulp of expf), the rest of the
     * count values ← 0: one causal attention row. */
    void (*softmax_row)(float *row, size_t last, size_t count);
    /* m = relu(g)² · u, the squared-ReLU gate, and its gradient du = dm · relu(g)²,
     * dg = 2 · dm · u · relu(g) (relu(g) = 0 where g ≤ 0). */
    void (*relu2_times)(const float *g, const float *u, float *m, size_t n);
    void (*relu2_backward)(const float *g, const float *u, const float *dm, float *dg, float *du, size_t n);
    /* out[i] = q[i] / s: a quantized token's values as the kernels see them. */
    void (*dequantize_token)(const int8_t *q, size_t n, float s, float *out);
    /* Half-split rotary embedding of one token in place: for each of `heads` vectors of d values
     * (d even) and i < d/2, (a, b) = (x[i], x[i + d/2]) ← (a·cos[i] − b·s, b·cos[i] + a·s) with
     * s = sin[i], or −sin[i] when `inverse` (the backward pass's rotation back). */
    void (*rope_rotate)(float *x, size_t heads, size_t d, const float *cos, const float *sin, bool inverse);
    /* One query head of one token against `positions` (≥ 1) keys and values stored `stride` floats
     * apart, d values each: scores[p] = (q · k_p) · scale (sixteen lanes, halving tree, tail), their
     * softmax as softmax_row computes it, out[0..d) = Σ_p scores[p] · v_p added in position order over
     * the weights of at least 2⁻⁶⁰ (smaller ones cannot change the sum; skipping avoids subnormals). */
    void (*attention_token)(const float *q, const float *keys, const float *values, size_t positions, size_t stride,
                            size_t d, float scale, float *scores, float *out);
} bk_kernels;

/* The variant for one ISA, or NULL when it is not built into this binary or the CPU lacks it. */
const bk_kernels *bk_kernels_for(bk_isa isa);

/* The best variant for this CPU, chosen once. If BITKERNELS_ISA names a variant, that one; if it
 * names one this CPU lacks or no variant at all, NULL — call bk_kernels_best_error() for why. */
const bk_kernels *bk_kernels_best(void);

/* NULL when bk_kernels_best() succeeded, else a sentence saying what is wrong. */
const char *bk_kernels_best_error(void);

/* The choice bk_kernels_best() makes, for a given override (NULL or "" = none), without caching:
 * NULL with *error set to a sentence (valid until the next call) when the override is impossible. */
const bk_kernels *bk_kernels_resolve(const char *override_name, const char **error);

/* Causal attention of one token, every head: query head h (of `heads`, q + h·d) reads kv head
 * h / (heads / kv_heads) of the `positions` cached keys and values (position p's kv head j at
 * p·position_stride + j·head_stride floats) through the table's attention_token; scores holds
 * heads × positions floats; out gets heads × d. Heads are shared among up to `threads` OpenMP
 * threads (≤ 0: the default team) when the work pays for it; the result does not depend on the team. */
void bk_attention_decode(const bk_kernels *k, const float *q, const float *keys, const float *values,
                         size_t positions, size_t heads, size_t kv_heads, size_t d, size_t position_stride,
                         size_t head_stride, float scale, float *scores, float *out, int threads);

/* ---------------------------------------------------------------------------------------------
 * Random masks
 * ------------------------------------------------------------------------------------------- */

/* Seeds the generator from a 64-bit seed (splitmix64 expansion). */
void bk_rng_seed(bk_rng *rng, uint64_t seed);

/* Probability p in [0, 1] as the generator's threshold: round(p * 65536). */
uint32_t bk_density_threshold(double p);

/* A width-bit Bernoulli(threshold / 65536) mask; padding bits cleared. */
void bk_random_mask(const bk_kernels *k, bk_rng *rng, uint64_t *out, size_t width,
                    uint32_t threshold);

/* ---------------------------------------------------------------------------------------------
 * One-vs-many and many-vs-many scoring
 *
 * Scores of a query q against a row r, from a = |q AND r|, x = |q XOR r|, o = |q OR r|:
 *   SHARED                 a
 *   DIFFERING              x              (lower is a better match; winners use the minimum)
 *   SHARED_MINUS_DIFFERING a − x
 *   JACCARD                a / o          (1 when both vectors are empty)
 * Winners and top-k compare exactly in integers (Jaccard by cross-multiplication), so every
 * variant picks the same rows; ties go to the lowest row index.
 * ------------------------------------------------------------------------------------------- */

typedef enum bk_score_kind {
    BK_SCORE_SHARED = 0,
    BK_SCORE_DIFFERING = 1,
    BK_SCORE_SHARED_MINUS_DIFFERING = 2,
    BK_SCORE_JACCARD = 3
} bk_score_kind;

/* The rows to score: row_count rows of word_count words at rows + r * stride_words.
 * row_popcounts, when not NULL, holds popcount(row r) for each row (a BitMatrix keeps them); the
 * kernels then need one popcount per word instead of two. */
typedef struct bk_rows {
    const uint64_t *words;
    size_t stride_words;
    size_t word_count;
    size_t row_count;
    const uint32_t *row_popcounts;
} bk_rows;

typedef struct bk_match {
    int64_t row;        /* −1 when there are no rows */
    float score;        /* the score of that row, as defined above */
    uint32_t shared;    /* |q AND r| */
    uint32_t differing; /* |q XOR r| */
} bk_match;

/* threads: 0 = OpenMP's default; 1 = the calling thread only. Small row counts never fork. */

/* Every row's score into scores[0 .. row_count). */
void bk_score_rows(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                   const bk_rows *rows, float *scores, int threads);

/* The best row (highest score; lowest for DIFFERING), without materializing all scores. */
bk_match bk_score_winner(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                         const bk_rows *rows, int threads);

/* The best min(top, row_count) rows, best first (ties: lowest index first). Returns the count. */
size_t bk_score_top(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                    const bk_rows *rows, size_t top, bk_match *out, int threads);

/* A batch of query_count queries (query q at queries + q * query_stride_words, word_count words)
 * against every row: the winner per query into out[q]. Rows are scanned in cache-sized blocks
 * so each block is reused by all queries while it is hot. */
void bk_score_winners_batch(const bk_kernels *k, bk_score_kind kind, const uint64_t *queries,
                            size_t query_stride_words, size_t query_count, const bk_rows *rows,
                            bk_match *out, int threads);

#ifdef __cplusplus
}
#endif
#endif /* BITKERNELS_KERNELS_H */
