/* binary_matmul.c — ±1 products (1-bit BitNet, XNOR-nets) on the bit-vector kernels.
 *
 * With bit 1 = +1 and bit 0 = -1, a·b over width bits is width - 2 |a XOR b|, and
 * |a XOR b| = |a| + |b| - 2 |a AND b|. Rows keep their popcounts, so each product costs one
 * AND-popcount pass (the and_counts kernel of the dispatch table, every ISA variant of which is
 * checked against the scalar reference) and the XNOR never needs to be formed. */
#include "bk_internal.h"
#include "bk_omp.h"

#include <stdlib.h>

/* Rows per block: about 128 KiB of rows, reused by every token while it sits in L2. */
static size_t rows_per_block(size_t word_count) {
    const size_t bytes = word_count * sizeof(uint64_t);
    const size_t n = bytes ? (128u << 10) / bytes : 4096;
    return n < 16 ? 16 : n;
}

/* o[i] = width - 2|t| - 2|r_i| + 4|t AND r_i| in place over the AND counts. In int32 (exact for
 * widths below 2^29) it vectorizes twice as wide as in int64, which shows beside a GEMV in L2. */
BK_INLINE void counts_to_products_any(int32_t *o, const uint32_t *row_popcounts, size_t n,
                                      size_t width, uint32_t token_popcount) {
    if (width < ((size_t)1 << 29)) {
        const int32_t base = (int32_t)width - 2 * (int32_t)token_popcount;
        for (size_t i = 0; i < n; i++) o[i] = base + 4 * o[i] - 2 * (int32_t)row_popcounts[i];
    } else {
        const int64_t base = (int64_t)width - 2 * (int64_t)token_popcount;
        for (size_t i = 0; i < n; i++)
            o[i] = (int32_t)(base + 4 * (int64_t)(uint32_t)o[i] - 2 * (int64_t)row_popcounts[i]);
    }
}

static void counts_to_products_portable(int32_t *o, const uint32_t *row_popcounts, size_t n,
                                        size_t width, uint32_t token_popcount) {
    counts_to_products_any(o, row_popcounts, n, width, token_popcount);
}

#if BK_X86
BK_TARGET_AVX2
static void counts_to_products_avx2(int32_t *o, const uint32_t *row_popcounts, size_t n,
                                    size_t width, uint32_t token_popcount) {
    counts_to_products_any(o, row_popcounts, n, width, token_popcount);
}
BK_UNTARGET
#endif

/* 8 lanes in the AVX2 copy (see bk_table_has_avx2). */
static void counts_to_products(const bk_kernels *k, int32_t *o, const uint32_t *row_popcounts,
                               size_t n, size_t width, uint32_t token_popcount) {
#if BK_X86
    if (bk_table_has_avx2(k)) {
        counts_to_products_avx2(o, row_popcounts, n, width, token_popcount);
        return;
    }
#endif
    (void)k;
    counts_to_products_portable(o, row_popcounts, n, width, token_popcount);
}

/* The AND counts go straight into the output (uint32 and int32 may alias) and become products in
 * place: no scratch buffer, so small calls cost little more than the kernel. */
static void block_products(const bk_kernels *k, const bk_rows *rows, size_t width,
                           const uint64_t *tokens, size_t token_stride_words,
                           const uint32_t *token_popcounts, size_t token_count, size_t begin,
                           size_t end, int32_t *out, size_t out_stride) {
    const size_t block = rows_per_block(rows->word_count);
    for (size_t start = begin; start < end; start += block) {
        const size_t n = end - start < block ? end - start : block;
        const uint64_t *first = rows->words + start * rows->stride_words;
        for (size_t t = 0; t < token_count; t++) {
            int32_t *o = out + t * out_stride + start;
            k->and_counts(tokens + t * token_stride_words, first, rows->stride_words,
                          rows->word_count, n, (uint32_t *)o);
            counts_to_products(k, o, rows->row_popcounts + start, n, width, token_popcounts[t]);
        }
    }
}

/* The products of a group of tokens whose popcounts are token_popcounts[0 .. token_count). */
static void token_group_products(const bk_kernels *k, const bk_rows *rows, size_t width,
                                 const uint64_t *tokens, size_t token_stride_words,
                                 const uint32_t *token_popcounts, size_t token_count,
                                 int32_t *out, size_t out_stride, int threads) {
    const size_t row_count = rows->row_count;
    const int team = row_count * token_count >= BK_PAR_MIN_ROWS ? bk_team_size(threads) : 1;
    if (team <= 1) {
        block_products(k, rows, width, tokens, token_stride_words, token_popcounts, token_count, 0,
                       row_count, out, out_stride);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        const size_t n = (size_t)omp_get_num_threads(), i = (size_t)omp_get_thread_num();
        block_products(k, rows, width, tokens, token_stride_words, token_popcounts, token_count,
                       row_count * i / n, row_count * (i + 1) / n, out, out_stride);
    }
}

void bk_binary_matmul(const bk_kernels *k, const bk_rows *rows, size_t width,
                      const uint64_t *tokens, size_t token_stride_words, size_t token_count,
                      int32_t *out, size_t out_stride, int threads) {
    if (token_count == 0 || rows->row_count == 0) return;
    enum { SMALL = 64 };
    uint32_t small[SMALL];
    uint32_t *heap = token_count > SMALL ? malloc(token_count * sizeof *heap) : NULL;
    /* All tokens in one pass over the rows; without memory for their popcounts, 64 at a time. */
    uint32_t *token_popcounts = heap ? heap : small;
    const size_t group = heap ? token_count : SMALL;
    for (size_t t0 = 0; t0 < token_count; t0 += group) {
        const size_t n = token_count - t0 < group ? token_count - t0 : group;
        const uint64_t *first = tokens + t0 * token_stride_words;
        for (size_t t = 0; t < n; t++)
            token_popcounts[t] =
                (uint32_t)k->popcount(first + t * token_stride_words, rows->word_count);
        token_group_products(k, rows, width, first, token_stride_words, token_popcounts, n,
                             out + t0 * out_stride, out_stride, threads);
    }
    free(heap);
}
