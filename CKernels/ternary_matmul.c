/* ternary_matmul.c — BitNet b1.58 products: packed ternary rows times int8 tokens, exact in int32.
 *
 * The packed codes are w + 1 in {0, 1, 2}, so every variant computes Σ code · x with
 * unsigned × signed byte products (PMADDUBSW, VPDPBUSD, SDOT) and subtracts Σ x afterwards: no
 * sign handling in the inner loop. A 64-byte block holds 256 weights; bit pair p of byte j is
 * weight 64p + j, so plane p of any 16/32/64-byte slice lines up with contiguous activations.
 *
 * Rows are stored in groups of four, block by block (bitkernels/matrices.h), so a four-row tile
 * reads one contiguous stream: in a tile the next row is ROW_STEP bytes on and the next block
 * BLOCK_STEP. The hardware prefetchers follow one stream well and four badly. Software prefetch
 * ahead of the stream measured no better on Zen 4, but lifts Golden Cove cores from ~75% to
 * ~95% of the read bandwidth: every tile prefetches its rows' lines bk_stream_prefetch_distance() bytes
 * ahead (several-token tiles read 64 of every 256 bytes of the stream, which the hardware
 * prefetchers follow even worse: from DRAM the AVX-512 4- and 8-token products ran at half their
 * speed without it, bench/RESULTS.md).
 *
 * Tiling: one token (GEMV) runs four rows at a time, so each activation load serves four rows;
 * several tokens (GEMM) run one row against four tokens at a time (on AVX-512 two rows against
 * eight, four such tiles per 8-row panel, stored together; sixteen tokens reuse each row pair's
 * decoded codes for the second eight), so each decoded weight vector serves four (eight, sixteen)
 * tokens while the row (cols / 4 bytes) stays in L1 across the token groups. */
#include "bk_omp.h"
#include "bk_simd.h"

#include <stdlib.h>
#include <string.h>

/* The specification. */
void bk_ternary_matmul_scalar(const uint8_t *packed, size_t block_count, size_t row_count,
                              const int8_t *x, size_t x_stride, const int32_t *x_sums,
                              size_t token_count, int32_t *out, size_t out_stride) {
    for (size_t t = 0; t < token_count; t++) {
        const int8_t *xt = x + t * x_stride;
        for (size_t r = 0; r < row_count; r++) {
            int32_t acc = 0;
            for (size_t b = 0; b < block_count; b++) {
                const uint8_t *block = packed + bk_ternary_block_offset(block_count, r, b);
                for (size_t j = 0; j < BK_TERNARY_BLOCK_BYTES; j++)
                    for (int p = 0; p < 4; p++)
                        acc += ((block[j] >> (2 * p)) & 3) * xt[b * 256 + 64 * p + j];
            }
            out[t * out_stride + r] = acc - x_sums[t];
        }
    }
}

/* Single-token calls stream the weights from DRAM once per token. A Golden Cove core (Sapphire /
 * Emerald Rapids) keeps too few misses in flight for its hardware prefetchers alone to reach the
 * memory's rate while the core also computes; a software prefetch PREFETCH_INTEL bytes ahead
 * measured best there: one thread from DRAM, 2560² to 4096², 72-77% of the summing loop's rate
 * without, 91-98% with 4 KiB (2-8 KiB within 3% of each other). On AMD (Zen 4) the hardware
 * prefetchers alone reached 80-102%, and a software prefetch measured no better: nothing changes
 * there, nor on other vendors. */
#define PREFETCH_INTEL 4096
#define PREFETCH_MAX (64u << 10)

static size_t prefetch_bytes = (size_t)-1; /* -1: not chosen yet */

size_t bk_stream_prefetch_default_distance(void) {
    const bk_cpu_features *f = bk_cpu_detect();
    return BK_X86 && f->intel ? PREFETCH_INTEL : 0;
}

size_t bk_stream_prefetch_distance(void) {
    size_t v = __atomic_load_n(&prefetch_bytes, __ATOMIC_RELAXED);
    if (v == (size_t)-1) {
        v = bk_stream_prefetch_default_distance();
        __atomic_store_n(&prefetch_bytes, v, __ATOMIC_RELAXED);
    }
    return v;
}

void bk_stream_prefetch_set_distance(size_t bytes) {
    bytes = bytes > PREFETCH_MAX ? PREFETCH_MAX : bytes & ~(size_t)255;
    __atomic_store_n(&prefetch_bytes, bytes, __ATOMIC_RELAXED);
}

/* Whether the AVX-512 variant's two-row eight-token tile decodes with GFNI (one GF2P8AFFINEQB per
 * plane and row) instead of shifts and ANDs. On by default when the CPU has GFNI; can be turned
 * off (tests run both decodes; benchmarks compare them), never on without GFNI. */
static int gfni_decode = -1; /* -1: not chosen yet */

static bool gfni_available(void) {
    return BK_X86 && bk_cpu_detect()->gfni && bk_isa_supported(BK_ISA_AVX512);
}

bool bk_ternary_gfni_decode(void) {
    int v = __atomic_load_n(&gfni_decode, __ATOMIC_RELAXED);
    if (v < 0) {
        v = gfni_available();
        __atomic_store_n(&gfni_decode, v, __ATOMIC_RELAXED);
    }
    return v;
}

void bk_ternary_set_gfni_decode(bool on) {
    __atomic_store_n(&gfni_decode, on && gfni_available(), __ATOMIC_RELAXED);
}

/* GEMM works on panels of rows and chunks of the columns, sized so that the chunk of every token
 * (chunk · 256 bytes each) stays in L1 while the panel's rows pass over it; each weight block is
 * read from memory once and then reused from L1 by every token group. Chunks never go below 16
 * blocks: each chunk ends in a horizontal reduction per product, which below that costs more than
 * the products; from L2 the activations still stream fast enough. */
#define BK_GEMM_PANEL_ROWS 8

#define ROW_STEP BK_TERNARY_BLOCK_BYTES
#define BLOCK_STEP (4 * BK_TERNARY_BLOCK_BYTES)

#if BK_X86 /* the tiled variants */
BK_INLINE size_t gemm_chunk_blocks(size_t token_count) {
    const size_t blocks = (16u << 10) / (BK_TERNARY_BLOCK * token_count);
    return blocks < 16 ? 16 : blocks;
}

/* One product call's operands, as the tile walker reads them. */
typedef struct ternary_product {
    const uint8_t *packed;
    size_t block_count, row_count;
    const int8_t *x;
    size_t x_stride;
    const int32_t *x_sums;
    size_t token_count;
    int32_t *out;
    size_t out_stride;
    size_t prefetch; /* GEMV: bytes ahead of the weight stream to prefetch (0: none) */
    /* NULL: int32 products; else one per token: out holds floats, (float)product · factors[t],
     * written by the stores of the last column chunk (the AVX-512 wide-row walk only) */
    const float *factors;
} ternary_product;

/* A tile: the rows × tokens <= 16 products of the packed rows at w (ROW_STEP apart) with the
 * tokens at x (x_stride apart) over block_count blocks, into result[row * tokens + token]. */
typedef void (*ternary_tile)(const uint8_t *w, size_t block_count, const int8_t *x,
                             size_t x_stride, int rows, int tokens, int32_t *result,
                             size_t prefetch);

/* Software prefetch of the weight stream: the cache lines of the tile's `rows` rows `distance`
 * bytes past the 256-byte block step at w (a row group's four rows are one contiguous stream, so
 * "ahead" is simply further on; past the matrix's end it only touches lines that are never used).
 * A four-row GEMV tile fetches the whole step; a one-row GEMM tile only its own line, the other
 * rows' tiles fetch theirs. Into L1 (T0): a T1 prefetch read ~6% faster per call at the p10 on
 * Emerald Rapids but no faster over a whole 2B-4T token's 210 GEMVs (bench/RESULTS.md, decode
 * section). */
BK_INLINE void prefetch_ahead(const uint8_t *w, size_t distance, int rows) {
    if (distance == 0) return;
    for (int i = 0; i < rows; i++) _mm_prefetch((const char *)(w + distance + 64 * i), _MM_HINT_T0);
}

/* Runs the R × T tile at rows r.., tokens t.., blocks b .. b + nb and stores its products: the
 * first chunk (b = 0) minus Σ x, later chunks added; the last one times the token's factor, as a
 * float, where the product has factors. R and T are constants at every call. */
BK_INLINE void run_tile(const ternary_product *p, ternary_tile tile, int R, int T, size_t r,
                        size_t t, size_t b, size_t nb) {
    int32_t res[16];
    tile(p->packed + bk_ternary_block_offset(p->block_count, r, b), nb,
         p->x + t * p->x_stride + b * BK_TERNARY_BLOCK, p->x_stride, R, T, res, p->prefetch);
    if (p->factors && b + nb == p->block_count) {
        for (int i = 0; i < R; i++)
            for (int j = 0; j < T; j++) {
                int32_t *o = &p->out[(t + j) * p->out_stride + r + i];
                const float f = (float)((b == 0 ? -p->x_sums[t + j] : *o) + res[i * T + j]) * p->factors[t + j];
                memcpy(o, &f, sizeof f);
            }
        return;
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++) {
            int32_t *o = &p->out[(t + j) * p->out_stride + r + i];
            *o = (b == 0 ? -p->x_sums[t + j] : *o) + res[i * T + j];
        }
}

/* Walks the tiles of the product: one token in four-row tiles over all blocks (GEMV); several in
 * panels of rows × column chunks, one row against four tokens at a time (GEMM). Inlined into each
 * variant, so `tile` is a constant and inlined in turn. */
/* A whole panel (BK_GEMM_PANEL_ROWS rows) × eight tokens over blocks b .. b + nb, products stored
 * into out as run_tile stores them. */
typedef void (*ternary_panel8)(const ternary_product *p, size_t r0, size_t t, size_t b, size_t nb);

/* The most blocks of a column chunk that a 16-token panel takes: it runs each row pair against
 * both groups of eight tokens in turn, so both groups' chunks (16 × 256 bytes a block: 40 KiB)
 * and the row pair's kept codes (512 bytes a block) must stay in L1 (48 KiB on Golden Cove).
 * Longer chunks (16 blocks: 64 KiB of activations) ran 14% slower that way than as two 8-token
 * panels, which take one group at a time (2560 × 6912, Emerald Rapids); they still go so. */
#define BK_GEMM_KEPT_BLOCKS 10

/* Whether sixteen tokens' activations can share L1 at all: not when the token stride is a multiple
 * of 4 KiB, which puts the same offset of every token in the same L1 set (12 ways on Golden Cove,
 * 8 on Zen 4). 2560 × 4096, 32 tokens: 293 G/s as two 8-token panels, 271 as 16-token ones. */
BK_INLINE bool kept_codes_fit(const ternary_product *p) { return p->x_stride % 4096 != 0; }

/* From 24 tokens on, AVX-512 runs each group of 16 tokens over this many rows (whole panels) before
 * the next group, so that the group's chunk stays in L1 across the rows' panels while the rows'
 * chunk (64 · 64 bytes a block) stays in L2 across the groups. */
#define BK_GEMM_SUPER_ROWS 64

/* panel16, where given, runs a whole panel × sixteen tokens (same signature; tokens t .. t + 15). */
BK_INLINE void walk_tiles(const ternary_product *p, ternary_tile tile, ternary_tile tile8,
                          ternary_panel8 panel8, ternary_panel8 panel16) {
    const size_t rows = p->row_count, tokens = p->token_count, blocks = p->block_count;
    if (tokens == 1) {
        size_t r = 0;
        for (; r + 4 <= rows; r += 4) run_tile(p, tile, 4, 1, r, 0, 0, blocks);
        for (; r < rows; r++) run_tile(p, tile, 1, 1, r, 0, 0, blocks);
        return;
    }
    const size_t chunk = gemm_chunk_blocks(tokens);
    for (size_t r0 = 0; r0 < rows; r0 += BK_GEMM_PANEL_ROWS) {
        const size_t r1 = r0 + BK_GEMM_PANEL_ROWS < rows ? r0 + BK_GEMM_PANEL_ROWS : rows;
        for (size_t b = 0; b < blocks; b += chunk) {
            const size_t nb = blocks - b < chunk ? blocks - b : chunk;
            size_t t = 0;
            if (tile8) /* two rows at a time: r0 is a multiple of 8, so each pair is in one group */
                for (; t + 8 <= tokens; t += 8) {
                    size_t r = r0;
                    if (panel8 && r1 - r0 == BK_GEMM_PANEL_ROWS) {
                        if (panel16 && t + 16 <= tokens && nb <= BK_GEMM_KEPT_BLOCKS && kept_codes_fit(p)) {
                            panel16(p, r0, t, b, nb);
                            t += 8;
                        } else
                            panel8(p, r0, t, b, nb);
                        r = r1;
                    }
                    for (; r + 2 <= r1; r += 2) run_tile(p, tile8, 2, 8, r, t, b, nb);
                    if (r < r1) run_tile(p, tile8, 1, 8, r, t, b, nb);
                }
            for (; t + 4 <= tokens; t += 4)
                for (size_t r = r0; r < r1; r++) run_tile(p, tile, 1, 4, r, t, b, nb);
            for (size_t r = r0; r < r1; r++) switch (tokens - t) {
                case 3: run_tile(p, tile, 1, 3, r, t, b, nb); break;
                case 2: run_tile(p, tile, 1, 2, r, t, b, nb); break;
                case 1: run_tile(p, tile, 1, 1, r, t, b, nb); break;
                default: break;
                }
        }
    }
}
#endif

#if BK_X86
BK_TARGET_AVX2
/* GEMM tiles (several tokens): each plane shifted down once and shared by the tokens; the
 * in-place decode below needs two int16 sums per product, too many registers for 4 tokens.
 * Per block each product gets 8 PMADDUBSW (|lane| <= 2·2·128), summed
 * in int16 (<= 4096) and widened once per block with PMADDWD. The tile also prefetches its
 * row's line `prefetch` bytes ahead in the row group's stream: the tile reads 64 of every 256
 * bytes, which the hardware prefetcher follows poorly, and from DRAM the eight-token GEMM lost
 * 30-40% of its warm speed without it (bench/ggml_compare.sh, Emerald Rapids). */
BK_INLINE void tile_avx2_gemm(const uint8_t *w, size_t block_count, const int8_t *x,
                         size_t x_stride, const int rows, const int tokens, int32_t *result, size_t prefetch) {
    const __m256i mask = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                      _mm256_setzero_si256()};
    for (size_t b = 0; b < block_count; b++) {
        if (prefetch) _mm_prefetch((const char *)(w + b * BLOCK_STEP + prefetch), _MM_HINT_T0);
        __m256i part[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            __m256i bytes[4];
            for (int r = 0; r < rows; r++)
                bytes[r] = _mm256_loadu_si256((const __m256i *)(w + r * ROW_STEP + b * BLOCK_STEP + 32 * h));
            for (int p = 0; p < 4; p++) {
                __m256i codes[4];
                for (int r = 0; r < rows; r++)
                    codes[r] = _mm256_and_si256(_mm256_srli_epi16(bytes[r], 2 * p), mask);
                for (int t = 0; t < tokens; t++) {
                    const __m256i xv = _mm256_loadu_si256(
                        (const __m256i *)(x + t * x_stride + b * 256 + 64 * p + 32 * h));
                    for (int r = 0; r < rows; r++)
                        part[r * tokens + t] =
                            _mm256_add_epi16(part[r * tokens + t], _mm256_maddubs_epi16(codes[r], xv));
                }
            }
        }
        for (int i = 0; i < rows * tokens; i++)
            acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(part[i], ones));
    }
    for (int i = 0; i < rows * tokens; i++) result[i] = bk_avx2_hsum_epi32(acc[i]);
}

/* GEMV tiles (one token, four rows; faster than shifting every plane). A byte's four codes are
 * read without shifting each one down: planes 0 and 2 as (byte & 3) and (byte >> 4 & 3), planes
 * 1 and 3 left in place as (byte & 12) and (byte >> 4 & 12), i.e. 4 × code — one shift per 32
 * bytes instead of three. PMADDUBSW lanes
 * stay within int16 (|lane| <= 2·2·128 resp. 2·8·128); per block the ×4 sums plus 4 × the ×1
 * sums (<= 8192 + 8192) are widened once with PMADDWD, so every product is 4 × the true one and
 * the final shift by 2 is exact. */
BK_INLINE void tile_avx2_gemv(const uint8_t *w, size_t block_count, const int8_t *x,
                         size_t x_stride, const int rows, const int tokens, int32_t *result, size_t prefetch) {
    const __m256i low = _mm256_set1_epi8(3), high = _mm256_set1_epi8(12), ones = _mm256_set1_epi16(1);
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                      _mm256_setzero_si256()};
    for (size_t b = 0; b < block_count; b++) {
        prefetch_ahead(w + b * BLOCK_STEP, prefetch, rows);
        __m256i part1[4], part4[4];
        for (int i = 0; i < 4; i++) part1[i] = part4[i] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i bytes[4], upper[4];
            for (int r = 0; r < rows; r++) {
                bytes[r] = _mm256_loadu_si256((const __m256i *)(w + r * ROW_STEP + b * BLOCK_STEP + 32 * h));
                upper[r] = _mm256_srli_epi16(bytes[r], 4);
            }
            for (int p = 0; p < 4; p++) {
                __m256i codes[4];
                for (int r = 0; r < rows; r++)
                    codes[r] = _mm256_and_si256(p < 2 ? bytes[r] : upper[r], p % 2 ? high : low);
                for (int t = 0; t < tokens; t++) {
                    const __m256i xv = _mm256_loadu_si256(
                        (const __m256i *)(x + t * x_stride + b * 256 + 64 * p + 32 * h));
                    for (int r = 0; r < rows; r++) {
                        const __m256i prod = _mm256_maddubs_epi16(codes[r], xv);
                        if (p % 2) part4[r * tokens + t] = _mm256_add_epi16(part4[r * tokens + t], prod);
                        else part1[r * tokens + t] = _mm256_add_epi16(part1[r * tokens + t], prod);
                    }
                }
            }
        }
        for (int i = 0; i < rows * tokens; i++)
            acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_add_epi16(part4[i], _mm256_slli_epi16(part1[i], 2)), ones));
    }
    for (int i = 0; i < rows * tokens; i++) result[i] = bk_avx2_hsum_epi32(acc[i]) >> 2;
}

/* One token: the in-place decode; several: the shifted one; both with the prefetch distance.
 * `tokens` is a constant at every call. */
BK_INLINE void tile_avx2(const uint8_t *w, size_t block_count, const int8_t *x,
                         size_t x_stride, const int rows, const int tokens, int32_t *result, size_t prefetch) {
    if (tokens == 1) tile_avx2_gemv(w, block_count, x, x_stride, rows, 1, result, prefetch);
    else tile_avx2_gemm(w, block_count, x, x_stride, rows, tokens, result, prefetch);
}

void bk_ternary_matmul_avx2(const uint8_t *packed, size_t block_count, size_t row_count,
                            const int8_t *x, size_t x_stride, const int32_t *x_sums,
                            size_t token_count, int32_t *out, size_t out_stride) {
    const ternary_product p = {packed, block_count, row_count, x,         x_stride,
                               x_sums, token_count, out,       out_stride, bk_stream_prefetch_distance()};
    walk_tiles(&p, tile_avx2, NULL, NULL, NULL);
}
BK_UNTARGET

BK_TARGET_AVXVNNI
/* AVX-VNNI (VEX VPDPBUSD on ymm). VPDPBUSD accumulates in int32, so the codes need not be shifted
 * down to 0..2: as in the AVX2 GEMV tile, planes 0 and 2 are (byte & 3) and (byte >> 4 & 3),
 * planes 1 and 3 stay in place as (byte & 12) and (byte >> 4 & 12) = 4 × code — one shift per 32
 * bytes. Each product keeps two int32 accumulators, ×1 and ×4, and the ×4 one is shifted back
 * exactly at the end (every lane is a multiple of 4). Two, not one per plane as the AVX-512 tile
 * keeps: a ymm variant has 16 registers, and 16 accumulators spilled (the GEMM tile was no faster
 * than AVX2's). The activations are read as VPDPBUSD memory operands, from L1. */
BK_INLINE void tile_avxvnni(const uint8_t *w, size_t block_count, const int8_t *x,
                            size_t x_stride, const int rows, const int tokens, int32_t *result, size_t prefetch) {
    const __m256i low = _mm256_set1_epi8(3), high = _mm256_set1_epi8(12);
    __m256i acc1[4], acc4[4];
    for (int i = 0; i < 4; i++) acc1[i] = acc4[i] = _mm256_setzero_si256();
    for (size_t b = 0; b < block_count; b++) {
        prefetch_ahead(w + b * BLOCK_STEP, prefetch, rows);
        for (int h = 0; h < 2; h++)
            for (int r = 0; r < rows; r++) {
                const __m256i bytes = _mm256_loadu_si256((const __m256i *)(w + r * ROW_STEP + b * BLOCK_STEP + 32 * h));
                const __m256i upper = _mm256_srli_epi16(bytes, 4);
                for (int p = 0; p < 4; p++) {
                    const __m256i codes = _mm256_and_si256(p < 2 ? bytes : upper, p % 2 ? high : low);
                    for (int t = 0; t < tokens; t++) {
                        const __m256i xv = _mm256_loadu_si256(
                            (const __m256i *)(x + t * x_stride + b * 256 + 64 * p + 32 * h));
                        const int i = r * tokens + t;
                        if (p % 2) acc4[i] = _mm256_dpbusd_avx_epi32(acc4[i], codes, xv);
                        else acc1[i] = _mm256_dpbusd_avx_epi32(acc1[i], codes, xv);
                    }
                }
            }
    }
    for (int i = 0; i < rows * tokens; i++)
        result[i] = bk_avx2_hsum_epi32(_mm256_add_epi32(acc1[i], _mm256_srai_epi32(acc4[i], 2)));
}

void bk_ternary_matmul_avxvnni(const uint8_t *packed, size_t block_count, size_t row_count,
                               const int8_t *x, size_t x_stride, const int32_t *x_sums,
                               size_t token_count, int32_t *out, size_t out_stride) {
    const ternary_product p = {packed, block_count, row_count, x,         x_stride,
                               x_sums, token_count, out,       out_stride, bk_stream_prefetch_distance()};
    walk_tiles(&p, tile_avxvnni, NULL, NULL, NULL);
}
BK_UNTARGET

BK_TARGET_AVX512
/* VNNI accumulates in int32, so the codes need no shift: plane p is (bytes AND 3 << 2p), which is
 * 4^p · code, summed into its own accumulator and scaled back (exactly) at the end. */
BK_INLINE void tile_avx512(const uint8_t *w, size_t block_count, const int8_t *x,
                           size_t x_stride, const int rows, const int tokens, int32_t *result, size_t prefetch) {
    __m512i acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < 4; p++) acc[i][p] = _mm512_setzero_si512();
    for (size_t b = 0; b < block_count; b++) {
        prefetch_ahead(w + b * BLOCK_STEP, prefetch, rows);
        __m512i bytes[4];
        for (int r = 0; r < rows; r++)
            bytes[r] = _mm512_loadu_si512((const void *)(w + r * ROW_STEP + b * BLOCK_STEP));
        for (int p = 0; p < 4; p++) {
            const __m512i mask = _mm512_set1_epi8((char)(3 << (2 * p)));
            __m512i codes[4];
            for (int r = 0; r < rows; r++) codes[r] = _mm512_and_si512(bytes[r], mask);
            for (int t = 0; t < tokens; t++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(x + t * x_stride + b * 256 + 64 * p));
                for (int r = 0; r < rows; r++)
                    acc[r * tokens + t][p] = _mm512_dpbusd_epi32(acc[r * tokens + t][p], codes[r], xv);
            }
        }
    }
    for (int i = 0; i < rows * tokens; i++) {
        const __m512i sum = _mm512_add_epi32(
            _mm512_add_epi32(acc[i][0], _mm512_srai_epi32(acc[i][1], 2)),
            _mm512_add_epi32(_mm512_srai_epi32(acc[i][2], 4), _mm512_srai_epi32(acc[i][3], 6)));
        result[i] = _mm512_reduce_add_epi32(sum);
    }
}

/* The products of one 4 × 4 tile over one block's first `planes` bit planes (weights 0 .. 64 ·
 * planes − 1 of the block); `planes` is a constant at every call. */
BK_INLINE void block_avx512_4x4(const uint8_t *w, const int8_t *x, size_t x_stride, const int planes,
                                __m512i acc[16]) {
    const __m512i mask = _mm512_set1_epi8(3);
    __m512i bytes[4];
    for (int r = 0; r < 4; r++) bytes[r] = _mm512_loadu_si512((const void *)(w + r * ROW_STEP));
    for (int p = 0; p < planes; p++) {
        __m512i codes[4];
        for (int r = 0; r < 4; r++)
            codes[r] = _mm512_and_si512(p ? _mm512_srli_epi16(bytes[r], 2 * p) : bytes[r], mask);
        for (int t = 0; t < 4; t++) {
            const __m512i xv = _mm512_loadu_si512((const void *)(x + t * x_stride + 64 * p));
            for (int r = 0; r < 4; r++) acc[r * 4 + t] = _mm512_dpbusd_epi32(acc[r * 4 + t], codes[r], xv);
        }
    }
}

/* The sixteen int32 sums of acc[0..15], in order: per 128-bit lane, pairs (a, b) → [a0+a2, b0+b2,
 * a1+a3, b1+b3], quads → [A, B, C, D]; then across the four lanes, so lane i holds Σ acc[i]. */
BK_INLINE __m512i reduce16_avx512(const __m512i acc[16]) {
    __m512i pair[8], quad[4];
    for (int i = 0; i < 8; i++)
        pair[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(acc[2 * i], acc[2 * i + 1]),
                                   _mm512_unpackhi_epi32(acc[2 * i], acc[2 * i + 1]));
    for (int i = 0; i < 4; i++)
        quad[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(pair[2 * i], pair[2 * i + 1]),
                                   _mm512_unpackhi_epi64(pair[2 * i], pair[2 * i + 1]));
    const __m512i h0 = _mm512_add_epi32(_mm512_shuffle_i32x4(quad[0], quad[1], 0x88),
                                        _mm512_shuffle_i32x4(quad[0], quad[1], 0xDD));
    const __m512i h1 = _mm512_add_epi32(_mm512_shuffle_i32x4(quad[2], quad[3], 0x88),
                                        _mm512_shuffle_i32x4(quad[2], quad[3], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(h0, h1, 0x88), _mm512_shuffle_i32x4(h0, h1, 0xDD));
}

/* The GEMM tile: four rows (one packed row group) × four tokens, 16 products. Each plane is
 * shifted down to codes 0..2 once and serves four tokens, so each product keeps one accumulator
 * (16 of the 32 registers) and no per-plane scaling. The 16 sums are reduced together by a
 * transposing tree (unpack, then 128-bit lane shuffles): ~20 operations for all 16 where one
 * horizontal sum each cost ~10 — with training's narrow rows (1-3 blocks) the single-row tile
 * spent more on its reductions than on its products. Products land at result[row * 4 + token].
 * The last block runs only its first `last_planes` planes (1-4): the planes past the matrix's
 * columns multiply zero activations, and at 128 columns (one block, two planes) they were half
 * of every product. */
BK_INLINE void tile_avx512_4x4(const uint8_t *w, size_t block_count, const int8_t *x,
                               size_t x_stride, int last_planes, int32_t result[16]) {
    __m512i acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    for (size_t b = 0; b + 1 < block_count; b++)
        block_avx512_4x4(w + b * BLOCK_STEP, x + b * 256, x_stride, 4, acc);
    if (block_count > 0) {
        const uint8_t *wl = w + (block_count - 1) * BLOCK_STEP;
        const int8_t *xl = x + (block_count - 1) * 256;
        switch (last_planes) {
        case 1: block_avx512_4x4(wl, xl, x_stride, 1, acc); break;
        case 2: block_avx512_4x4(wl, xl, x_stride, 2, acc); break;
        case 3: block_avx512_4x4(wl, xl, x_stride, 3, acc); break;
        default: block_avx512_4x4(wl, xl, x_stride, 4, acc); break;
        }
    }
    _mm512_storeu_si512((void *)result, reduce16_avx512(acc));
}

/* Eight tokens, two rows (the 2 × 8 tile of wide rows): each activation load feeds both rows'
 * VPDPBUSD, so a block costs 64 products, 32 activation loads and two weight loads, where the
 * one-row tile below needs 33 loads per 32 products and Golden Cove loads at most two zmm per
 * cycle. Each plane is shifted down to codes 0..2 (three shifts and four ANDs per row and block)
 * so every product keeps one accumulator: 16 of the 32 registers. The 16 sums are reduced
 * together by one transpose tree. Products land at result[row * 8 + token]. On CPUs with GFNI
 * sums_avx512_2x8_gfni below decodes in 8 ops instead of 14 and replaces this tile in whole
 * 8-row panels. */
BK_INLINE __m512i sums_avx512_2x8(const uint8_t *w, size_t block_count, const int8_t *x,
                                   size_t x_stride, size_t prefetch, __m512i *keep) {
    const __m512i mask = _mm512_set1_epi8(3);
    __m512i acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    for (size_t b = 0; b < block_count; b++) {
        if (prefetch) {
            _mm_prefetch((const char *)(w + b * BLOCK_STEP + prefetch), _MM_HINT_T0);
            _mm_prefetch((const char *)(w + ROW_STEP + b * BLOCK_STEP + prefetch), _MM_HINT_T0);
        }
        const __m512i b0 = _mm512_loadu_si512((const void *)(w + b * BLOCK_STEP));
        const __m512i b1 = _mm512_loadu_si512((const void *)(w + ROW_STEP + b * BLOCK_STEP));
        for (int p = 0; p < 4; p++) {
            const __m512i c0 = _mm512_and_si512(p ? _mm512_srli_epi16(b0, 2 * p) : b0, mask);
            const __m512i c1 = _mm512_and_si512(p ? _mm512_srli_epi16(b1, 2 * p) : b1, mask);
            if (keep) {
                _mm512_store_si512((void *)&keep[8 * b + 2 * p], c0);
                _mm512_store_si512((void *)&keep[8 * b + 2 * p + 1], c1);
            }
            for (int t = 0; t < 8; t++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(x + t * x_stride + b * 256 + 64 * p));
                acc[t] = _mm512_dpbusd_epi32(acc[t], c0, xv);
                acc[8 + t] = _mm512_dpbusd_epi32(acc[8 + t], c1, xv);
            }
        }
    }
    return reduce16_avx512(acc);
}

BK_INLINE void tile_avx512_2x8(const uint8_t *w, size_t block_count, const int8_t *x,
                               size_t x_stride, int32_t result[16], size_t prefetch) {
    _mm512_storeu_si512((void *)result, sums_avx512_2x8(w, block_count, x, x_stride, prefetch, NULL));
}

/* The 2 × 8 tile over codes already decoded by sums_avx512_2x8(_gfni) into `codes` (per block,
 * plane p: row 0 at 8 · block + 2p, row 1 next): the second eight tokens of a 16-token panel, so
 * each row pair's weights are decoded once for sixteen tokens. The codes come back by loads, which
 * do not compete with VPDPBUSD for ports 0 and 5 as the decode ops do. */
BK_INLINE __m512i sums_avx512_2x8_codes(const __m512i *codes, size_t block_count, const int8_t *x,
                                         size_t x_stride) {
    __m512i acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    for (size_t b = 0; b < block_count; b++)
        for (int p = 0; p < 4; p++) {
            const __m512i c0 = _mm512_load_si512((const void *)&codes[8 * b + 2 * p]);
            const __m512i c1 = _mm512_load_si512((const void *)&codes[8 * b + 2 * p + 1]);
            for (int t = 0; t < 8; t++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(x + t * x_stride + b * 256 + 64 * p));
                acc[t] = _mm512_dpbusd_epi32(acc[t], c0, xv);
                acc[8 + t] = _mm512_dpbusd_epi32(acc[8 + t], c1, xv);
            }
        }
    return reduce16_avx512(acc);
}

/* Eight tokens, one row: the 2-bit codes are decoded once per block (one shift, four ANDs) and
 * serve 32 VPDPBUSD, where the four-token tile decodes once per 16. Two accumulators per token, as
 * the AVX-VNNI tile keeps (planes 0, 2 as code, planes 1, 3 as 4 × code, shifted back exactly at
 * the end), so 16 accumulators fit in the 32 zmm registers; the activations are memory operands.
 * On Golden Cove, whose 512-bit ALU ops share ports 0 and 5 with VPDPBUSD, this is 37 port slots
 * per 32 products instead of 20 per 16 (the decode ANDs and the extra per-plane reductions). */
BK_INLINE void tile_avx512_1x8(const uint8_t *w, size_t block_count, const int8_t *x,
                               size_t x_stride, int32_t *result, size_t prefetch) {
    const __m512i low = _mm512_set1_epi8(3), high = _mm512_set1_epi8(12);
    __m512i acc1[8], acc4[8];
    for (int t = 0; t < 8; t++) acc1[t] = acc4[t] = _mm512_setzero_si512();
    for (size_t b = 0; b < block_count; b++) {
        if (prefetch) _mm_prefetch((const char *)(w + b * BLOCK_STEP + prefetch), _MM_HINT_T0);
        const __m512i bytes = _mm512_loadu_si512((const void *)(w + b * BLOCK_STEP));
        const __m512i upper = _mm512_srli_epi16(bytes, 4);
        const __m512i c0 = _mm512_and_si512(bytes, low), c1 = _mm512_and_si512(bytes, high);
        const __m512i c2 = _mm512_and_si512(upper, low), c3 = _mm512_and_si512(upper, high);
        for (int t = 0; t < 8; t++) {
            const int8_t *xt = x + t * x_stride + b * 256;
            acc1[t] = _mm512_dpbusd_epi32(acc1[t], c0, _mm512_loadu_si512((const void *)xt));
            acc4[t] = _mm512_dpbusd_epi32(acc4[t], c1, _mm512_loadu_si512((const void *)(xt + 64)));
            acc1[t] = _mm512_dpbusd_epi32(acc1[t], c2, _mm512_loadu_si512((const void *)(xt + 128)));
            acc4[t] = _mm512_dpbusd_epi32(acc4[t], c3, _mm512_loadu_si512((const void *)(xt + 192)));
        }
    }
    /* The eight sums at once, by a transpose tree (40 vector ops instead of 8 reductions' ~88,
     * which cost ~15% of a 2560-column row): pairs of tokens interleaved and added at 32, then
     * 64 bits, then 128-bit lanes, leaving token t's sum in int32 lane t. */
    __m512i v[8];
    for (int t = 0; t < 8; t++) v[t] = _mm512_add_epi32(acc1[t], _mm512_srai_epi32(acc4[t], 2));
    __m512i u[4], q[2];
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        q[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(u[2 * i], u[2 * i + 1]),
                                _mm512_unpackhi_epi64(u[2 * i], u[2 * i + 1]));
    /* Each 128-bit lane of q[0] holds partial sums of tokens 0-3, of q[1] of tokens 4-7. */
    const __m512i h = _mm512_add_epi32(_mm512_shuffle_i32x4(q[0], q[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                       _mm512_shuffle_i32x4(q[0], q[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512i z = _mm512_shuffle_i32x4(h, h, _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_si256((__m256i *)result,
                        _mm256_add_epi32(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64(z, 1)));
}

/* The eight-token tile of the walker: two rows (of one row group) or one. */
BK_INLINE void tile_avx512_t8(const uint8_t *w, size_t block_count, const int8_t *x,
                              size_t x_stride, const int rows, const int tokens, int32_t *result,
                              size_t prefetch) {
    (void)tokens; /* always 8 */
    if (rows == 2) tile_avx512_2x8(w, block_count, x, x_stride, result, prefetch);
    else tile_avx512_1x8(w, block_count, x, x_stride, result, prefetch);
}

/* Many tokens over narrow rows (training: 128-1024 columns, hundreds of tokens per call). Each
 * slab of up to 64 rows is unpacked once per call into a panel of code dwords — for every quad of
 * columns, the four codes of each of the slab's rows — so that one VPDPBUSD multiplies a weight
 * vector (16 rows × 4 columns) by one token's four activations broadcast from memory: the 16
 * lanes are 16 rows, the sums need no horizontal reduction and the loop no 2-bit decode. A
 * 64-row × 6-token tile keeps 24 accumulators and issues 4 weight loads and 6 broadcasts per 24
 * products; each token's broadcast address is its own base register plus the quad (no address
 * arithmetic in the loop, which on Golden Cove competes with VPDPBUSD for ports 0 and 5). Alone
 * it ran at 87-98% of the VPDPBUSD peak at training's shapes, 1-11% faster than the 32-row ×
 * 12-token tile it replaces (12 broadcasts and 11 address additions per 24 products) and than
 * 48 × 8 (bench/experiments/slab-gemm/REPORT.md); whole calls, unpacking included, 0-6%. The 4 × 4 tile
 * below spends ~40 decode, reduction and store operations per 64 products on the same ports; the
 * unpacking costs 64 · columns bytes per slab, once for all the tokens. */
static void gemm_narrow_avx512(const ternary_product *p, int last_planes);
#define SLAB_VECTORS 4 /* 16-row weight vectors per slab: 64 rows */
#define SLAB_TOKENS 6

/* Rows r0 .. r0 + n - 1 (n <= 16 · vectors) of the packed matrix, quads 0 .. quads - 1 of their
 * columns, into panel[q * 16 · vectors + i] (code dwords, i the row in the slab; rows past n
 * hold zero codes). */
static void unpack_slab_avx512(const uint8_t *packed, size_t block_count, size_t r0, size_t n,
                               size_t quads, int vectors, uint32_t *panel) {
    const size_t rows = 16 * (size_t)vectors;
    const __m512i mask = _mm512_set1_epi8(3);
    const __m512i lanes = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)rows));
    if (n < rows) memset(panel, 0, quads * rows * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        for (size_t q = 0; q < quads; q += 16) { /* 64 columns: one plane of one block */
            const size_t b = q / 64, plane = (q / 16) % 4;
            const __m512i bytes = _mm512_loadu_si512(
                (const void *)(packed + bk_ternary_block_offset(block_count, r0 + i, b)));
            const __m512i codes = _mm512_and_si512(_mm512_srlv_epi16(bytes, _mm512_set1_epi16((short)(2 * plane))), mask);
            _mm512_i32scatter_epi32((void *)(panel + q * rows + i), lanes, codes, 4);
        }
}

/* The `rest` (1 .. SLAB_TOKENS) tokens at x (x_stride apart) times the slab's 16 · V rows over
 * `quads` column quads (a multiple of 16); token t's products minus Σ x go to out + t ·
 * out_stride, rows masked by masks[v] — as int32, or as floats times factors[t] when factors is
 * not NULL (the float conversion and product of bk_ternary_matmul_f32, same bits). Tokens past
 * rest repeat the last one and are not stored. V is a constant at every call. */
BK_INLINE void slab_tile_avx512(const uint32_t *panel, size_t quads, const int V, const int8_t *x,
                                size_t x_stride, int rest, const int32_t *x_sums, const float *factors,
                                int32_t *out, size_t out_stride, const __mmask16 masks[SLAB_VECTORS]) {
    const int T = SLAB_TOKENS;
    const int8_t *xt[SLAB_TOKENS];
    for (int t = 0; t < T; t++) xt[t] = x + (size_t)(t < rest ? t : rest - 1) * x_stride;
    __m512i acc[SLAB_VECTORS * SLAB_TOKENS];
    for (int i = 0; i < V * T; i++) acc[i] = _mm512_setzero_si512();
    for (size_t q = 0; q < quads; q += 2)
        for (int h = 0; h < 2; h++) {
            __m512i w[SLAB_VECTORS];
            for (int v = 0; v < V; v++) w[v] = _mm512_load_si512((const void *)(panel + (q + h) * 16 * V + 16 * v));
            for (int t = 0; t < T; t++) {
                int32_t a;
                memcpy(&a, xt[t] + 4 * (q + h), 4);
                const __m512i b = _mm512_set1_epi32(a);
                for (int v = 0; v < V; v++) acc[t * V + v] = _mm512_dpbusd_epi32(acc[t * V + v], w[v], b);
            }
        }
    for (int t = 0; t < rest; t++) {
        const __m512i sum = _mm512_set1_epi32(x_sums[t]);
        int32_t *o = out + t * out_stride;
        if (factors) {
            const __m512 f = _mm512_set1_ps(factors[t]);
            for (int v = 0; v < V; v++) {
                const __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[t * V + v], sum)), f);
                if (masks[v] == 0xFFFF && ((uintptr_t)(o + 16 * v) & 63) == 0)
                    _mm512_stream_ps((float *)(void *)(o + 16 * v), y);
                else
                    _mm512_mask_storeu_ps((void *)(o + 16 * v), masks[v], y);
            }
        } else {
            for (int v = 0; v < V; v++)
                _mm512_mask_storeu_epi32((void *)(o + 16 * v), masks[v], _mm512_sub_epi32(acc[t * V + v], sum));
        }
    }
}

/* All the tokens against one slab of 16 · V rows. */
BK_INLINE void slab_tokens_avx512(const ternary_product *p, const uint32_t *panel, size_t quads, const int V,
                                  const float *factors, int32_t *out, const __mmask16 masks[SLAB_VECTORS]) {
    for (size_t t = 0; t < p->token_count; t += SLAB_TOKENS) {
        const int rest = p->token_count - t < SLAB_TOKENS ? (int)(p->token_count - t) : SLAB_TOKENS;
        slab_tile_avx512(panel, quads, V, p->x + t * p->x_stride, p->x_stride, rest, p->x_sums + t,
                         factors ? factors + t : NULL, out + t * p->out_stride, p->out_stride, masks);
    }
}

/* Narrow rows (<= 4 blocks) against many tokens, slab by slab; the last block's columns up to
 * its `last_planes` planes. Products as int32 in p->out, or (factors not NULL) as floats there,
 * times factors[t]. Returns false only when out of memory, having written nothing. */
static bool gemm_slabs_avx512(const ternary_product *p, int last_planes, const float *factors) {
    const size_t quads = (p->block_count - 1) * 64 + (size_t)last_planes * 16;
    /* quads · 256 bytes (64 · columns): a multiple of 64, as aligned_alloc wants; 64 KiB at 4 blocks. */
    uint32_t *panel = (uint32_t *)aligned_alloc(64, quads * 16 * SLAB_VECTORS * sizeof(uint32_t));
    if (!panel) return false;
    for (size_t r = 0; r < p->row_count; r += 16 * SLAB_VECTORS) {
        const size_t n = p->row_count - r < 16 * SLAB_VECTORS ? p->row_count - r : 16 * SLAB_VECTORS;
        const int vectors = (int)((n + 15) / 16); /* a narrower last slab: no products of zero rows */
        unpack_slab_avx512(p->packed, p->block_count, r, n, quads, vectors, panel);
        __mmask16 masks[SLAB_VECTORS];
        for (int v = 0; v < SLAB_VECTORS; v++) {
            const size_t left = n > 16 * (size_t)v ? n - 16 * (size_t)v : 0;
            masks[v] = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        }
        int32_t *out = p->out + r;
        switch (vectors) { /* constant widths, so the accumulators stay in registers */
        case 4: slab_tokens_avx512(p, panel, quads, 4, factors, out, masks); break;
        case 3: slab_tokens_avx512(p, panel, quads, 3, factors, out, masks); break;
        case 2: slab_tokens_avx512(p, panel, quads, 2, factors, out, masks); break;
        default: slab_tokens_avx512(p, panel, quads, 1, factors, out, masks); break;
        }
    }
    free(panel);
    _mm_sfence();
    return true;
}

/* Stores an 8-row × 8-token panel: s[k] holds rows 2k, 2k + 1 of the panel (lane 8i + j: row
 * 2k + i, token j). Two rounds of two-source permutes turn the four into token-major vectors
 * (lane 8m + q of v[h]: token 2h + m, row q), so each token's eight rows are one 256-bit store
 * (first chunk: minus Σ x; later chunks: added to what is there) instead of eight scattered
 * 32-bit read-modify-writes. Measured on Emerald Rapids at 2560 columns, 8 tokens: 77% → 80% of
 * the VPDPBUSD peak with the GFNI tile, 72-73% → 75% with the shift decode (the scattered updates
 * had cost ~24 cycles per row pair). */
BK_INLINE void store_panel_avx512(const ternary_product *p, size_t r0, size_t t, size_t b, size_t nb,
                                  const __m512i s[4]) {
    /* Round 1: tokens 0-3 (lo) / 4-7 (hi) of rows 0-3 (from s0, s1) or 4-7 (s2, s3), lane 4j + q. */
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_setr_epi32(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    const __m512i lo01 = _mm512_permutex2var_epi32(s[0], lo, s[1]), hi01 = _mm512_permutex2var_epi32(s[0], hi, s[1]);
    const __m512i lo23 = _mm512_permutex2var_epi32(s[2], lo, s[3]), hi23 = _mm512_permutex2var_epi32(s[2], hi, s[3]);
    /* Round 2: two tokens' eight rows, lane 8m + q. */
    const __m512i even = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i odd = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    __m512i v[4];
    v[0] = _mm512_permutex2var_epi32(lo01, even, lo23);
    v[1] = _mm512_permutex2var_epi32(lo01, odd, lo23);
    v[2] = _mm512_permutex2var_epi32(hi01, even, hi23);
    v[3] = _mm512_permutex2var_epi32(hi01, odd, hi23);
    const bool last = p->factors && b + nb == p->block_count;
    for (int h = 0; h < 4; h++)
        for (int m = 0; m < 2; m++) {
            const size_t j = t + 2 * h + m;
            int32_t *o = &p->out[j * p->out_stride + r0];
            const __m256i sums = m ? _mm512_extracti64x4_epi64(v[h], 1) : _mm512_castsi512_si256(v[h]);
            const __m256i base = b == 0 ? _mm256_set1_epi32(-p->x_sums[j]) : _mm256_loadu_si256((const __m256i *)o);
            const __m256i total = _mm256_add_epi32(base, sums);
            if (last)
                _mm256_storeu_ps((float *)(void *)o,
                                 _mm256_mul_ps(_mm256_cvtepi32_ps(total), _mm256_set1_ps(p->factors[j])));
            else
                _mm256_storeu_si256((__m256i *)o, total);
        }
}

/* The panel of the shift-decode tile: four row pairs of the panel's two row groups. */
__attribute__((noinline)) static void panel_avx512_8x8(const ternary_product *p, size_t r0, size_t t, size_t b, size_t nb) {
    __m512i s[4];
    for (int k = 0; k < 4; k++)
        s[k] = sums_avx512_2x8(p->packed + bk_ternary_block_offset(p->block_count, r0 + 2 * k, b), nb,
                               p->x + t * p->x_stride + b * BK_TERNARY_BLOCK, p->x_stride, p->prefetch, NULL);
    store_panel_avx512(p, r0, t, b, nb, s);
}

/* Sixteen tokens: each row pair's codes decoded once (with the first eight tokens) and kept for
 * the second eight, whose tile then spends ports 0 and 5 on VPDPBUSD alone (64 of 64 slots a block
 * instead of 64 of 72 with the GFNI decode, 78 with shifts). Emerald Rapids, one thread, 2560
 * columns: 298 → 316-317 G multiply-adds/s (80% → 85% of the VPDPBUSD peak; bench/RESULTS.md). */
__attribute__((noinline)) static void panel_avx512_8x16(const ternary_product *p, size_t r0, size_t t, size_t b, size_t nb) {
    __m512i s[4], s8[4], codes[8 * BK_GEMM_KEPT_BLOCKS];
    const int8_t *x = p->x + t * p->x_stride + b * BK_TERNARY_BLOCK;
    for (int k = 0; k < 4; k++) {
        s[k] = sums_avx512_2x8(p->packed + bk_ternary_block_offset(p->block_count, r0 + 2 * k, b), nb, x,
                               p->x_stride, p->prefetch, codes);
        s8[k] = sums_avx512_2x8_codes(codes, nb, x + 8 * p->x_stride, p->x_stride);
    }
    store_panel_avx512(p, r0, t, b, nb, s);
    store_panel_avx512(p, r0, t + 8, b, nb, s8);
}

/* GEMM of narrow rows (<= 4 blocks) with >= 4 tokens and >= 4 rows: whole row groups in 4 × 4
 * tiles, the matrix's last block over its first `last_planes` planes. Per column chunk (<= 16
 * blocks), the tokens go in panels whose chunk (<= 32 KB) stays in L1 while every row group's
 * chunk (4 × 64 bytes per block, a quarter of what the four tokens of a tile read) streams past
 * it; the last tokens (fewer than four) and the last partial row group go through the
 * single-row tiles (all four planes: the padding multiplies zeros, so the products agree). */
static void gemm_narrow_avx512(const ternary_product *p, int last_planes) {
    const uint8_t *packed = p->packed;
    const size_t block_count = p->block_count, row_count = p->row_count, token_count = p->token_count;
    const size_t x_stride = p->x_stride, out_stride = p->out_stride;
    const int8_t *x = p->x;
    const int32_t *x_sums = p->x_sums;
    int32_t *out = p->out;
    const size_t full_rows = row_count / 4 * 4, full_tokens = token_count / 4 * 4;
    for (size_t b = 0; b < block_count; b += 16) {
        const size_t nb = block_count - b < 16 ? block_count - b : 16;
        const int planes = b + nb == block_count ? last_planes : 4;
        size_t panel = (32u << 10) / (nb * BK_TERNARY_BLOCK) / 4 * 4;
        if (panel < 4) panel = 4;
        for (size_t t0 = 0; t0 < full_tokens; t0 += panel) {
            const size_t t1 = t0 + panel < full_tokens ? t0 + panel : full_tokens;
            for (size_t r = 0; r < full_rows; r += 4) {
                const uint8_t *wr = packed + bk_ternary_block_offset(block_count, r, b);
                for (size_t t = t0; t < t1; t += 4) {
                    int32_t res[16];
                    tile_avx512_4x4(wr, nb, x + t * x_stride + b * BK_TERNARY_BLOCK, x_stride, planes, res);
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            int32_t *o = &out[(t + j) * out_stride + r + i];
                            *o = (b == 0 ? -x_sums[t + j] : *o) + res[i * 4 + j];
                        }
                }
            }
        }
        for (size_t i = 0; i < full_rows; i++) switch (token_count - full_tokens) {
            case 3: run_tile(p, tile_avx512, 1, 3, i, full_tokens, b, nb); break;
            case 2: run_tile(p, tile_avx512, 1, 2, i, full_tokens, b, nb); break;
            case 1: run_tile(p, tile_avx512, 1, 1, i, full_tokens, b, nb); break;
            default: break;
            }
    }
    if (full_rows < row_count) {
        const ternary_product rest = {packed + bk_ternary_block_offset(block_count, full_rows, 0),
                                      block_count, row_count - full_rows, x, x_stride, x_sums,
                                      token_count, out + full_rows, out_stride, 0};
        walk_tiles(&rest, tile_avx512, tile_avx512_t8, panel_avx512_8x8, NULL);
    }
}

BK_UNTARGET

BK_TARGET_AVX512_GFNI
/* The GF2P8AFFINEQB matrix that moves bits 2p and 2p + 1 of every byte to bits 0 and 1 and clears
 * the rest: output bit i is the parity of (byte 7 − i of the matrix) AND the input byte. */
#define GFNI_PLANE(p) ((0x01ull << (2 * (p)) << 56) | (0x02ull << (2 * (p)) << 48))

/* The 2 × 8 tile above with the codes decoded by GFNI: plane 0 by one AND, planes 1-3 by one
 * GF2P8AFFINEQB each, 8 decode ops per block instead of 14 — on Golden Cove, where every 512-bit
 * ALU op shares ports 0 and 5 with VPDPBUSD, 64 of 72 slots are products (89%) instead of 64 of
 * 78 (82%). Same accumulators, same sums. Measured on Emerald Rapids, one thread, warm, 2560
 * columns, panels stored together: 80% of the same core's VPDPBUSD peak at 8 and 16 tokens,
 * against 75% with the shift decode (bench/RESULTS.md). With 8 tokens 89% is the loop's ceiling:
 * one decode op per plane and row is the least that gives every weight its own byte; with the
 * 16 sums' transpose tree (45 ops per row pair and chunk) 83% at 2560 columns. Emerald Rapids,
 * two VPDPBUSD a cycle, runs it at 78% of that rate (37.4 cycles a block where the ports allow 36,
 * ~37 more per row pair). More rows per tile would not lift it: the decode ops and the sums to
 * reduce grow with the rows as the products do. */
BK_INLINE __m512i sums_avx512_2x8_gfni(const uint8_t *w, size_t block_count, const int8_t *x,
                                        size_t x_stride, size_t prefetch, __m512i *keep) {
    const __m512i mask = _mm512_set1_epi8(3);
    const __m512i plane1 = _mm512_set1_epi64((long long)GFNI_PLANE(1));
    const __m512i plane2 = _mm512_set1_epi64((long long)GFNI_PLANE(2));
    const __m512i plane3 = _mm512_set1_epi64((long long)GFNI_PLANE(3));
    __m512i acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    for (size_t b = 0; b < block_count; b++) {
        if (prefetch) {
            _mm_prefetch((const char *)(w + b * BLOCK_STEP + prefetch), _MM_HINT_T0);
            _mm_prefetch((const char *)(w + ROW_STEP + b * BLOCK_STEP + prefetch), _MM_HINT_T0);
        }
        const __m512i b0 = _mm512_loadu_si512((const void *)(w + b * BLOCK_STEP));
        const __m512i b1 = _mm512_loadu_si512((const void *)(w + ROW_STEP + b * BLOCK_STEP));
        for (int p = 0; p < 4; p++) {
            const __m512i m = p == 1 ? plane1 : p == 2 ? plane2 : plane3;
            const __m512i c0 = p ? _mm512_gf2p8affine_epi64_epi8(b0, m, 0) : _mm512_and_si512(b0, mask);
            const __m512i c1 = p ? _mm512_gf2p8affine_epi64_epi8(b1, m, 0) : _mm512_and_si512(b1, mask);
            if (keep) {
                _mm512_store_si512((void *)&keep[8 * b + 2 * p], c0);
                _mm512_store_si512((void *)&keep[8 * b + 2 * p + 1], c1);
            }
            for (int t = 0; t < 8; t++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(x + t * x_stride + b * 256 + 64 * p));
                acc[t] = _mm512_dpbusd_epi32(acc[t], c0, xv);
                acc[8 + t] = _mm512_dpbusd_epi32(acc[8 + t], c1, xv);
            }
        }
    }
    return reduce16_avx512(acc);
}

/* The panel of the GFNI tile, as panel_avx512_8x8 (called through a pointer from the one walk of
 * the AVX-512 variant: the walk's other tiles keep a single copy, whose speed was seen to move
 * with its loops' alignment when a second copy was compiled in this region). */
__attribute__((noinline)) static void panel_avx512_8x8_gfni(const ternary_product *p, size_t r0, size_t t, size_t b, size_t nb) {
    __m512i s[4];
    for (int k = 0; k < 4; k++)
        s[k] = sums_avx512_2x8_gfni(p->packed + bk_ternary_block_offset(p->block_count, r0 + 2 * k, b), nb,
                                    p->x + t * p->x_stride + b * BK_TERNARY_BLOCK, p->x_stride, p->prefetch, NULL);
    store_panel_avx512(p, r0, t, b, nb, s);
}

/* Sixteen tokens, as panel_avx512_8x16 with the GFNI decode. */
__attribute__((noinline)) static void panel_avx512_8x16_gfni(const ternary_product *p, size_t r0, size_t t, size_t b, size_t nb) {
    __m512i s[4], s8[4], codes[8 * BK_GEMM_KEPT_BLOCKS];
    const int8_t *x = p->x + t * p->x_stride + b * BK_TERNARY_BLOCK;
    for (int k = 0; k < 4; k++) {
        s[k] = sums_avx512_2x8_gfni(p->packed + bk_ternary_block_offset(p->block_count, r0 + 2 * k, b), nb, x,
                                    p->x_stride, p->prefetch, codes);
        s8[k] = sums_avx512_2x8_codes(codes, nb, x + 8 * p->x_stride, p->x_stride);
    }
    store_panel_avx512(p, r0, t, b, nb, s);
    store_panel_avx512(p, r0, t + 8, b, nb, s8);
}

BK_UNTARGET

BK_TARGET_AVX512
/* The wide-row walk: whole 8-row panels × 8 tokens with the GFNI decode when the CPU has it (and
 * it is not turned off), × 16 where the chunk allows (BK_GEMM_KEPT_BLOCKS); partial panels and the
 * other token counts as without. From 24 tokens on, whole panels take the tokens 16 at a time over
 * BK_GEMM_SUPER_ROWS rows per chunk, not all tokens per panel (whose chunks, 24 × 2560 bytes at
 * 2560 columns and more, no longer fit L1: 2560 × 2560, 24-64 tokens, 283 → 311-314 G/s);
 * the last tokens and rows go through the walk. */
static void walk_avx512(const ternary_product *p) {
    const bool gfni = bk_ternary_gfni_decode();
    const ternary_panel8 panel8 = gfni ? panel_avx512_8x8_gfni : panel_avx512_8x8;
    const ternary_panel8 panel16 = gfni ? panel_avx512_8x16_gfni : panel_avx512_8x16;
    const size_t rows = p->row_count, tokens = p->token_count, blocks = p->block_count;
    const size_t full_rows = rows / BK_GEMM_PANEL_ROWS * BK_GEMM_PANEL_ROWS, tokens16 = tokens / 16 * 16;
    if (tokens >= 24 && full_rows > 0) {
        /* Chunks of at most BK_GEMM_KEPT_BLOCKS, evenly split (27 blocks: 9, 9, 9 rather than 16,
         * 11: 2560 × 6912, 32 and 64 tokens, 269-276 → 290-293 G/s), unless 16 tokens cannot
         * share L1 anyway (kept_codes_fit). */
        const size_t chunks = (blocks + BK_GEMM_KEPT_BLOCKS - 1) / BK_GEMM_KEPT_BLOCKS;
        const size_t chunk = kept_codes_fit(p) ? (blocks + chunks - 1) / chunks : gemm_chunk_blocks(tokens);
        for (size_t b = 0; b < blocks; b += chunk) {
            const size_t nb = blocks - b < chunk ? blocks - b : chunk;
            for (size_t rs = 0; rs < full_rows; rs += BK_GEMM_SUPER_ROWS) {
                const size_t re = rs + BK_GEMM_SUPER_ROWS < full_rows ? rs + BK_GEMM_SUPER_ROWS : full_rows;
                for (size_t t = 0; t < tokens16; t += 16)
                    for (size_t r0 = rs; r0 < re; r0 += BK_GEMM_PANEL_ROWS)
                        if (nb <= BK_GEMM_KEPT_BLOCKS && kept_codes_fit(p))
                            panel16(p, r0, t, b, nb);
                        else {
                            panel8(p, r0, t, b, nb);
                            panel8(p, r0, t + 8, b, nb);
                        }
            }
        }
        if (tokens16 < tokens) { /* the last tokens (< 16) of the whole panels */
            ternary_product q = *p;
            q.x += tokens16 * p->x_stride;
            q.x_sums += tokens16;
            if (q.factors) q.factors += tokens16;
            q.out += tokens16 * p->out_stride;
            q.token_count = tokens - tokens16;
            q.row_count = full_rows;
            walk_avx512(&q);
        }
        if (full_rows < rows) { /* every token of the last rows (< 8) */
            ternary_product q = *p;
            q.packed += bk_ternary_block_offset(blocks, full_rows, 0);
            q.out += full_rows;
            q.row_count = rows - full_rows;
            walk_avx512(&q);
        }
        return;
    }
    walk_tiles(p, tile_avx512, tile_avx512_t8, panel8, panel16);
}

/* Rows of more than four blocks (inference: 2560+ columns) go through the walker, eight tokens at
 * a time; narrow rows (training: 128-512 columns) through 4 × 4 tiles, where the single-row tiles
 * spent more on reductions than on products. Each was measured on its own regime
 * (bench/RESULTS.md); neither on the other's. */
BK_INLINE bool narrow_gemm(size_t block_count, size_t row_count, size_t token_count) {
    return token_count >= 4 && row_count >= 4 && block_count <= 4;
}

/* Narrow rows against enough tokens that unpacking a slab (64 · columns bytes) is paid back. */
BK_INLINE bool slab_gemm(size_t block_count, size_t row_count, size_t token_count) {
    return token_count >= 16 && row_count >= 16 && block_count >= 1 && block_count <= 4;
}

void bk_ternary_matmul_avx512(const uint8_t *packed, size_t block_count, size_t row_count,
                              const int8_t *x, size_t x_stride, const int32_t *x_sums,
                              size_t token_count, int32_t *out, size_t out_stride) {
    const ternary_product p = {packed, block_count, row_count, x,         x_stride,
                               x_sums, token_count, out,       out_stride, bk_stream_prefetch_distance()};
    if (slab_gemm(block_count, row_count, token_count) && gemm_slabs_avx512(&p, 4, NULL)) return;
    if (narrow_gemm(block_count, row_count, token_count)) gemm_narrow_avx512(&p, 4);
    else walk_avx512(&p);
}

/* As bk_ternary_matmul_avx512 for a matrix whose last block holds `last_planes` · 64 columns or
 * fewer (1-4): narrow GEMMs skip the last block's planes past the columns (training's 128-column
 * rows are one block of which two planes hold weights). The caller knows the columns; the table
 * entry does not. */
void bk_ternary_matmul_planes_avx512(const uint8_t *packed, size_t block_count, int last_planes,
                                     size_t row_count, const int8_t *x, size_t x_stride,
                                     const int32_t *x_sums, size_t token_count, int32_t *out,
                                     size_t out_stride) {
    const ternary_product p = {packed, block_count, row_count, x,         x_stride,
                               x_sums, token_count, out,       out_stride, bk_stream_prefetch_distance()};
    if (slab_gemm(block_count, row_count, token_count) && gemm_slabs_avx512(&p, last_planes, NULL)) return;
    if (narrow_gemm(block_count, row_count, token_count)) gemm_narrow_avx512(&p, last_planes);
    else walk_avx512(&p);
}

/* As bk_ternary_matmul_planes_avx512 with float products (int32 product times factors[t], the
 * same bits as bk_ternary_matmul_f32's pass over the int32 products) written by the slab tiles or,
 * from eight tokens on, the wide-row walk's last stores themselves: no second pass over the
 * outputs (2560 × 2560, 8 tokens, Emerald Rapids: the pass added 2.7% to the int32 product, the
 * fused stores 1.8%; one token's GEMV ran 4% slower with its stores converting, so it keeps the
 * pass). Returns false, having written nothing, for the other shapes (or out of memory); the
 * caller then runs the int32 product and the pass. */
bool bk_ternary_matmul_planes_f32_avx512(const uint8_t *packed, size_t block_count, int last_planes,
                                         size_t row_count, const int8_t *x, size_t x_stride,
                                         const int32_t *x_sums, const float *factors, size_t token_count,
                                         float *y, size_t y_stride) {
    if (slab_gemm(block_count, row_count, token_count)) {
        const ternary_product p = {packed, block_count, row_count, x, x_stride, x_sums, token_count,
                                   (int32_t *)(void *)y, y_stride, bk_stream_prefetch_distance(), NULL};
        return gemm_slabs_avx512(&p, last_planes, factors);
    }
    if (token_count < 8 || narrow_gemm(block_count, row_count, token_count)) return false;
    const ternary_product p = {packed, block_count, row_count, x, x_stride, x_sums, token_count,
                               (int32_t *)(void *)y, y_stride, bk_stream_prefetch_distance(), factors};
    walk_avx512(&p);
    return true;
}
BK_UNTARGET
#endif

#if BK_AARCH64
/* The codes of the four planes of 16 packed bytes. */
BK_INLINE void codes_neon(uint8x16_t bytes, int8x16_t c[4]) {
    const uint8x16_t mask = vdupq_n_u8(3);
    c[0] = vreinterpretq_s8_u8(vandq_u8(bytes, mask));
    c[1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(bytes, 2), mask));
    c[2] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(bytes, 4), mask));
    c[3] = vreinterpretq_s8_u8(vshrq_n_u8(bytes, 6));
}

/* One product: 16-byte slices, codes widened by SMULL/SMLAL into int16 and by SADALP into int32
 * (or SDOT with dotprod). Kept small: compiled and reviewed here, run on aarch64 machines. */
static int32_t dot_neon(const uint8_t *w, size_t block_count, const int8_t *x) {
    int32x4_t acc = vdupq_n_s32(0);
    for (size_t b = 0; b < block_count; b++) {
        int16x8_t part = vdupq_n_s16(0); /* 16 products of |x| <= 2·128 per lane: fits */
        for (int q = 0; q < 4; q++) {
            int8x16_t c[4];
            codes_neon(vld1q_u8(w + b * BLOCK_STEP + 16 * q), c);
            for (int p = 0; p < 4; p++) {
                const int8x16_t xv = vld1q_s8(x + b * 256 + 64 * p + 16 * q);
                part = vmlal_s8(part, vget_low_s8(c[p]), vget_low_s8(xv));
                part = vmlal_high_s8(part, c[p], xv);
            }
        }
        acc = vpadalq_s16(acc, part);
    }
    return vaddvq_s32(acc);
}

BK_TARGET_DOTPROD static int32_t dot_neon_dotprod(const uint8_t *w, size_t block_count,
                                                  const int8_t *x) {
    int32x4_t acc = vdupq_n_s32(0);
    for (size_t b = 0; b < block_count; b++)
        for (int q = 0; q < 4; q++) {
            int8x16_t c[4];
            codes_neon(vld1q_u8(w + b * BLOCK_STEP + 16 * q), c);
            for (int p = 0; p < 4; p++)
                acc = vdotq_s32(acc, c[p], vld1q_s8(x + b * 256 + 64 * p + 16 * q));
        }
    return vaddvq_s32(acc);
}

void bk_ternary_matmul_neon(const uint8_t *packed, size_t block_count, size_t row_count,
                            const int8_t *x, size_t x_stride, const int32_t *x_sums,
                            size_t token_count, int32_t *out, size_t out_stride) {
    const bool dotprod = bk_cpu_detect()->dotprod;
    for (size_t r = 0; r < row_count; r++)
        for (size_t t = 0; t < token_count; t++) {
            const uint8_t *w = packed + bk_ternary_block_offset(block_count, r, 0);
            const int8_t *xt = x + t * x_stride;
            const int32_t dot = dotprod ? dot_neon_dotprod(w, block_count, xt) : dot_neon(w, block_count, xt);
            out[t * out_stride + r] = dot - x_sums[t];
        }
}
#endif

/* ---------------------------------------------------------------------------------------------
 * Threaded wrappers
 * ------------------------------------------------------------------------------------------- */

/* Below this many weight-blocks × tokens of work a team costs more than it saves. */
#define BK_TERNARY_PAR_MIN_WORK 2048

/* The table's product for `row_count` rows of w starting at `packed`; on AVX-512 the variant that
 * knows how many planes of the last block hold columns (the table entry knows only blocks). With
 * `factors` (one per token), float products instead: int32 product times factors[t], written by
 * the AVX-512 slab tiles and wide-row walk directly, otherwise by a pass over these rows' int32
 * products. */
static void matmul_rows(const bk_kernels *k, const bk_ternary_matrix *w, const uint8_t *packed,
                        size_t row_count, const int8_t *x, size_t x_stride, const int32_t *x_sums,
                        size_t token_count, int32_t *out, size_t out_stride, const float *factors) {
#if BK_X86
    if (k->isa == BK_ISA_AVX512 && k->ternary_matmul == bk_ternary_matmul_avx512 && w->block_count > 0) {
        const size_t tail = w->cols - (w->block_count - 1) * BK_TERNARY_BLOCK; /* 1 .. 256 */
        const int planes = (int)((tail + 63) / 64);
        if (factors && bk_ternary_matmul_planes_f32_avx512(packed, w->block_count, planes, row_count, x, x_stride,
                                                           x_sums, factors, token_count, (float *)(void *)out,
                                                           out_stride))
            return;
        bk_ternary_matmul_planes_avx512(packed, w->block_count, planes, row_count,
                                        x, x_stride, x_sums, token_count, out, out_stride);
    } else
#endif
        k->ternary_matmul(packed, w->block_count, row_count, x, x_stride, x_sums, token_count, out,
                          out_stride);
    if (factors)
        for (size_t t = 0; t < token_count; t++) {
            int32_t *ot = out + t * out_stride;
            for (size_t r = 0; r < row_count; r++) {
                const float v = (float)ot[r] * factors[t];
                memcpy(&ot[r], &v, sizeof v);
            }
        }
}

static void matmul_team(const bk_kernels *k, const bk_ternary_matrix *w, const int8_t *x,
                        size_t x_stride, const int32_t *x_sums, size_t token_count,
                        int32_t *out, size_t out_stride, int threads, const float *factors) {
    const size_t rows = w->rows;
    const int team = bk_team_size(threads);
    if (team <= 1 || rows < 8 || rows * w->block_count * token_count < BK_TERNARY_PAR_MIN_WORK) {
        matmul_rows(k, w, w->packed, rows, x, x_stride, x_sums, token_count, out, out_stride, factors);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        /* Contiguous shares in multiples of four rows: whole row groups of the packed layout, so
         * each share is one contiguous range of bytes and the GEMV tiles stay whole. */
        const size_t n = (size_t)omp_get_num_threads(), i = (size_t)omp_get_thread_num();
        const size_t groups = (rows + 3) / 4;
        const size_t begin = groups * i / n * 4, end = groups * (i + 1) / n * 4;
        const size_t stop = end < rows ? end : rows;
        if (begin < stop)
            matmul_rows(k, w, w->packed + bk_ternary_block_offset(w->block_count, begin, 0),
                        stop - begin, x, x_stride, x_sums, token_count, out + begin, out_stride, factors);
    }
}

void bk_ternary_matmul_i32(const bk_kernels *k, const bk_ternary_matrix *w, const int8_t *x,
                           size_t x_stride, const int32_t *x_sums, size_t token_count,
                           int32_t *out, size_t out_stride, int threads) {
    matmul_team(k, w, x, x_stride, x_sums, token_count, out, out_stride, threads, NULL);
}

void bk_ternary_matmul_f32(const bk_kernels *k, const bk_ternary_matrix *w, const int8_t *x,
                           size_t x_stride, const int32_t *x_sums, const float *x_scales,
                           size_t token_count, float *y, size_t y_stride, int threads) {
    /* The integer products go into y itself (int32 and float are both 4 bytes) and are scaled in
     * place: no scratch to size or allocate, whatever rows × tokens. */
    int32_t *products = (int32_t *)(void *)y;
    /* One scale per tensor (BitNet's absmean, training's): the factor row_scale / x_scale is the
     * same for a whole token, so it is divided once per token, not per product (same values), and
     * the products are scaled as each share of rows is done (by the AVX-512 slab tiles as they
     * store them). */
    bool uniform = w->rows > 0;
    for (size_t r = 1; r < w->rows && uniform; r++) uniform = w->row_scales[r] == w->row_scales[0];
    float *factors = uniform ? (float *)malloc((token_count ? token_count : 1) * sizeof(float)) : NULL;
    if (factors) {
        for (size_t t = 0; t < token_count; t++) factors[t] = w->row_scales[0] / x_scales[t];
        matmul_team(k, w, x, x_stride, x_sums, token_count, products, y_stride, threads, factors);
        free(factors);
        return;
    }
    bk_ternary_matmul_i32(k, w, x, x_stride, x_sums, token_count, products, y_stride, threads);
    for (size_t t = 0; t < token_count; t++) {
        float *yt = &y[t * y_stride];
        for (size_t r = 0; r < w->rows; r++) {
            int32_t product;
            memcpy(&product, &yt[r], sizeof product);
            yt[r] = (float)product * (w->row_scales[r] / x_scales[t]);
        }
    }
}
