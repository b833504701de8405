/*
 * bitkernels.h — the public C interface of BitKernels.
 *
 * Plain C11, no intrinsics, no OpenMP or hwloc headers: usable from C programs and imported by
 * the Swift `BitKernels` module.
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
 * variants compiled into the same binary. bk_kernels_best() picks the best variant the CPU and OS
 * support (or the one named by the environment variable BITKERNELS_ISA); bk_kernels_for() returns
 * a specific variant, or NULL when this CPU cannot run it.
 */
#ifndef BITKERNELS_H
#define BITKERNELS_H

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
    BK_ISA_COUNT = 4
} bk_isa;

/* What the CPU and the operating system both support (x86: CPUID and XGETBV). */
typedef struct bk_cpu_features {
    bool popcnt, bmi2, fma, avx2;
    bool avx512f, avx512bw, avx512vl, avx512_vpopcntdq, avx512_vnni;
    bool avx_vnni;
    bool neon, dotprod;
    char brand[64]; /* CPU model name, NUL-terminated; empty when unknown */
} bk_cpu_features;

/* Detected once, thread-safely; the pointer stays valid for the life of the process. */
const bk_cpu_features *bk_cpu_detect(void);

/* "scalar", "avx2", "avx512", "neon"; "unknown" for anything else. */
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
    void (*i8_dots)(const int8_t *rows, size_t stride, size_t n, size_t row_count, const float *x,
                    float *out);

    /* n 8-bit pixels to an n-bit vector (ceil(n / 64) words, padding zero). Threshold: bit i =
     * p[i] > level. Rank: exactly k bits (k <= n), the k brightest pixels; among pixels equal to the
     * cut-off intensity the lowest indices are taken. */
    void (*encode_threshold)(const uint8_t *p, size_t n, uint8_t level, uint64_t *out);
    void (*encode_rank)(const uint8_t *p, size_t n, size_t k, uint64_t *out);
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
void bk_i8_matvec(const bk_kernels *k, const int8_t *rows, size_t stride, size_t n,
                  size_t row_count, const float *row_scales, const float *x, float *out,
                  int threads);

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

/* ---------------------------------------------------------------------------------------------
 * Machine facts for tools
 * ------------------------------------------------------------------------------------------- */

/* Sums a buffer as fast as the CPU can read it: the read-bandwidth yardstick of the benchmarks. */
uint64_t bk_read_sum(const uint64_t *words, size_t word_count);

/* bk_read_sum over `threads` OpenMP threads, each summing a contiguous share (0 = default team). */
uint64_t bk_read_sum_parallel(const uint64_t *words, size_t word_count, int threads);

/* The scalar reference loops compiled with the POPCNT instruction: the "plain POPCNT loop" that
 * benchmarks compare against, since the portable scalar reference cannot assume POPCNT. */
uint64_t bk_popcount_popcnt_loop(const uint64_t *words, size_t word_count);
bk_pair_counts bk_pair_counts_popcnt_loop(const uint64_t *a, const uint64_t *b, size_t word_count);

/* The core clock in Hz measured by a chain of dependent additions (one per cycle) over
 * about `seconds` seconds. */
double bk_measure_clock_hz(double seconds);

/* OpenMP: the default team size (omp_get_max_threads). */
int bk_omp_max_threads(void);

typedef struct bk_topology_summary {
    int packages, numa_nodes, l3_caches, cores, pus;
    uint64_t l1d_bytes, l2_bytes, l3_bytes; /* per cache instance, 0 when unknown */
    uint64_t total_memory_bytes;
} bk_topology_summary;

/* The machine's topology through hwloc. Returns false (and zeroes *out) when hwloc fails. */
bool bk_topology_summarize(bk_topology_summary *out);

/* ---------------------------------------------------------------------------------------------
 * Topology and thread placement (hwloc)
 * ------------------------------------------------------------------------------------------- */

typedef struct bk_topology bk_topology;

/* This machine (both NULL), a synthetic description in hwloc's syntax ("pack:2 numa:2 l3:4 core:8
 * pu:2"), or an XML export (lstopo --of xml). NULL with a sentence in error on failure. Only the
 * process's allowed PUs are included. */
bk_topology *bk_topology_open(const char *synthetic, const char *xml_path, char *error,
                              size_t error_size);
void bk_topology_close(bk_topology *t);
bool bk_topology_is_this_system(const bk_topology *t);
/* Writes the topology as hwloc XML (what lstopo --of xml writes). Returns 0 on success. */
int bk_topology_export_xml(const bk_topology *t, const char *path);
void bk_topology_summary_of(const bk_topology *t, bk_topology_summary *out);

/* One processing unit (hardware thread), with the logical index of its core, L2, L3, NUMA node and
 * package (-1 when the topology has no such level). */
typedef struct bk_pu_info {
    int os_index, core, l2, l3, numa, package;
} bk_pu_info;

/* The PUs in hwloc's logical order (packages, then NUMA nodes, L3s, cores). Returns the total
 * count; writes at most `capacity`. */
size_t bk_topology_pus(const bk_topology *t, bk_pu_info *out, size_t capacity);

/* The scatter plan: thread i → the PU with OS index pu_os_index[i], as hwloc_distrib() spreads a
 * team from the topology's root (packages, NUMA nodes, L3s, L2s, cores, then SMT siblings) and
 * `hwloc-distrib --single` prints it. Returns 0, or -1 when threads is not in 1...PUs. */
int bk_topology_scatter(const bk_topology *t, int threads, int *pu_os_index);

/* Binds OpenMP thread i of a team of `threads` to the PU with OS index pu_os_index[i] and reports
 * where each thread runs afterwards (observed[i], -1 when unknown). libomp keeps a team of the
 * same size on the same threads, so later parallel kernels with this thread count run pinned.
 * Returns 0, or -1 with a sentence in error (binding unsupported by the OS, PU not allowed). */
int bk_bind_team(bk_topology *t, const int *pu_os_index, int threads, int *observed,
                 char *error, size_t error_size);

/* Where each thread of a new parallel region of `threads` threads runs (observed[i], -1 when
 * unknown): checks that a binding survives from one region to the next. */
int bk_team_locations(bk_topology *t, int threads, int *observed);

/* Lets a team of `threads` run anywhere in the allowed cpuset again. */
int bk_unbind_team(bk_topology *t, int threads);

/* Moves the pages of each thread's contiguous share of rows (the share the threaded kernels give
 * thread i of `threads`) to that thread's NUMA node thread_numa[i]. Returns the bytes placed; 0 on
 * a one-node machine, where there is nothing to do. Packed ternary matrices are shared out in
 * groups of four rows: pass the groups, ceil(rows / 4) of 4 · block_count · 64 bytes. */
size_t bk_numa_place_rows(bk_topology *t, void *base, size_t row_bytes, size_t rows,
                          const int *thread_numa, int threads);

#ifdef __cplusplus
}
#endif
#endif /* BITKERNELS_H */
