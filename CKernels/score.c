/* score.c — one-vs-many and many-vs-many scoring on top of the per-row counts (row_counts.c).
 *
 * Rows are processed in blocks of BLOCK_ROWS: the ISA variant fills |q AND r| (and popcount(r)
 * when the caller keeps no row popcounts) for a block, then every score follows from three
 * integers: a = |q AND r|, x = |q| + |r| − 2a, o = |q| + |r| − a. Winners and top-k compare those
 * integers exactly (Jaccard a/o by cross-multiplication), so all variants choose the same rows
 * and no score array is materialized when only the best rows are wanted. */
#include "bk_internal.h"
#include "bk_omp.h"

#include <stdlib.h>
#include <string.h>

enum { BLOCK_ROWS = 256 };

/* A candidate row, ordered by `better`. */
typedef struct candidate {
    int64_t row;
    uint32_t shared, row_pop;
} candidate;

static float score_of(bk_score_kind kind, uint32_t qpop, uint32_t shared, uint32_t row_pop) {
    const int64_t a = shared, x = (int64_t)qpop + row_pop - 2 * a, o = (int64_t)qpop + row_pop - a;
    switch (kind) {
    case BK_SCORE_SHARED: return (float)a;
    case BK_SCORE_DIFFERING: return (float)x;
    case BK_SCORE_SHARED_MINUS_DIFFERING: return (float)(a - x);
    case BK_SCORE_JACCARD: return o == 0 ? 1.0f : (float)a / (float)o;
    }
    return 0;
}

/* The integer key that orders rows for the integer scores (higher is better; |q| is common to
 * all rows and left out). */
BK_INLINE int64_t integer_key(bk_score_kind kind, uint32_t shared, uint32_t row_pop) {
    switch (kind) {
    case BK_SCORE_SHARED: return shared;
    case BK_SCORE_DIFFERING: return 2 * (int64_t)shared - row_pop; /* −(x − |q|) */
    default: return 3 * (int64_t)shared - row_pop;                 /* a − x + |q| */
    }
}

/* Jaccard a/o as an exact fraction; two empty vectors (o = 0) count as 1/1. */
BK_INLINE void jaccard_fraction(uint32_t qpop, uint32_t shared, uint32_t row_pop, uint64_t *num,
                                uint64_t *den) {
    *num = shared;
    *den = (uint64_t)qpop + row_pop - shared;
    if (*den == 0) *num = *den = 1;
}

/* a/o rounded to float, for filtering only (see consider_block); o = 0 is 1, as above. */
BK_INLINE float jaccard_ratio(uint32_t qpop, uint32_t shared, uint32_t row_pop) {
    const int32_t o = (int32_t)(qpop + row_pop - shared); /* below 2^24: signed converts faster */
    return o == 0 ? 1.0f : (float)(int32_t)shared / (float)o;
}

/* Is c strictly better than b? Ties are not better, so the earlier (lower) row stays. */
static bool better(bk_score_kind kind, uint32_t qpop, const candidate *c, const candidate *b) {
    if (b->row < 0) return c->row >= 0;
    if (c->row < 0) return false;
    if (kind != BK_SCORE_JACCARD)
        return integer_key(kind, c->shared, c->row_pop) > integer_key(kind, b->shared, b->row_pop);
    uint64_t ca, co, ba, bo;
    jaccard_fraction(qpop, c->shared, c->row_pop, &ca, &co);
    jaccard_fraction(qpop, b->shared, b->row_pop, &ba, &bo);
    return ca * bo > ba * co;
}

static bk_match match_of(bk_score_kind kind, uint32_t qpop, const candidate *c) {
    bk_match m = {-1, 0, 0, 0};
    if (c->row < 0) return m;
    m.row = c->row;
    m.score = score_of(kind, qpop, c->shared, c->row_pop);
    m.shared = c->shared;
    m.differing = qpop + c->row_pop - 2 * c->shared;
    return m;
}

/* Counts for rows [begin, begin + n): shared into and_out, popcounts into *pops (the caller's
 * array when it keeps one, else computed into pop_buf). */
static void block_counts(const bk_kernels *k, const uint64_t *query, const bk_rows *rows,
                         size_t begin, size_t n, uint32_t *and_out, uint32_t *pop_buf,
                         const uint32_t **pops) {
    const uint64_t *first = rows->words + begin * rows->stride_words;
    k->and_counts(query, first, rows->stride_words, rows->word_count, n, and_out);
    if (rows->row_popcounts) {
        *pops = rows->row_popcounts + begin;
    } else {
        k->row_popcounts(first, rows->stride_words, rows->word_count, n, pop_buf);
        *pops = pop_buf;
    }
}

/* The first row of [start, n) whose Jaccard ratio beats *best exactly (SIZE_MAX if none), looking
 * only at rows whose ratio bits equal block_max when ratio_bits is given. */
BK_INLINE size_t best_jaccard_row(uint32_t qpop, const uint32_t *shared, const uint32_t *pops,
                                  size_t start, size_t n, const int32_t *ratio_bits,
                                  int32_t block_max, const candidate *best) {
    size_t best_i = SIZE_MAX;
    uint64_t ba, bo;
    jaccard_fraction(qpop, best->shared, best->row_pop, &ba, &bo);
    for (size_t i = start; i < n; i++) {
        if (ratio_bits && ratio_bits[i] != block_max) continue;
        uint64_t a, o;
        jaccard_fraction(qpop, shared[i], pops[i], &a, &o);
        if (a * bo > ba * o) {
            ba = a;
            bo = o;
            best_i = i;
        }
    }
    return best_i;
}

/* The best of a block's rows merged into *best (ties keep the earlier row). This runs once per
 * row beside a kernel that spends a few cycles per short row, so it must cost well under one. */
BK_INLINE void consider_block(bk_score_kind kind, uint32_t qpop, const uint32_t *shared,
                              const uint32_t *pops, size_t n, size_t first_row, size_t word_count,
                              candidate *best) {
    if (n == 0) return;
    size_t start = 0;
    if (best->row < 0) { /* the first row of the scan is the best so far */
        *best = (candidate){(int64_t)first_row, shared[0], pops[0]};
        start = 1;
    }
    size_t best_i = SIZE_MAX;
    if (kind == BK_SCORE_JACCARD && word_count <= ((size_t)1 << 24) / 64) {
        /* Float ratios filter the rows, exactly: with a and o below 2^24 the conversions are
         * exact and the division is correctly rounded, hence monotonic, so the exactly best rows
         * are among those whose float ratio equals the block's float maximum (a max over their
         * bits, which vectorizes); only those are cross-multiplied. */
        int32_t ratio_bits[BLOCK_ROWS], block_max = -1; /* ratios ≥ 0 order as their bits */
        for (size_t i = start; i < n; i++) {
            const float ratio = jaccard_ratio(qpop, shared[i], pops[i]);
            memcpy(&ratio_bits[i], &ratio, sizeof ratio);
            block_max = ratio_bits[i] > block_max ? ratio_bits[i] : block_max;
        }
        best_i = best_jaccard_row(qpop, shared, pops, start, n, ratio_bits, block_max, best);
    } else if (kind == BK_SCORE_JACCARD) {
        best_i = best_jaccard_row(qpop, shared, pops, start, n, NULL, 0, best);
    } else if (word_count <= (size_t)INT32_MAX / 4 / 64) {
        /* Two passes: the block's best key (a max reduction the compiler vectorizes), then, only
         * when it beats the best so far, the first row holding it; a one-pass loop carrying the
         * index does not vectorize. Keys lie in [−width, 2·width], so they fit in int32 for widths
         * below 2^29 bits. */
        const int32_t best_key = (int32_t)integer_key(kind, best->shared, best->row_pop);
        int32_t block_key = INT32_MIN;
        for (size_t i = start; i < n; i++) {
            const int32_t key = (int32_t)integer_key(kind, shared[i], pops[i]);
            block_key = key > block_key ? key : block_key;
        }
        if (block_key > best_key)
            for (size_t i = start; i < n; i++)
                if ((int32_t)integer_key(kind, shared[i], pops[i]) == block_key) {
                    best_i = i;
                    break;
                }
    } else {
        int64_t best_key = integer_key(kind, best->shared, best->row_pop);
        for (size_t i = start; i < n; i++) {
            const int64_t key = integer_key(kind, shared[i], pops[i]);
            if (key > best_key) {
                best_key = key;
                best_i = i;
            }
        }
    }
    if (best_i != SIZE_MAX) *best = (candidate){(int64_t)(first_row + best_i), shared[best_i], pops[best_i]};
}

BK_INLINE void consider_kind(bk_score_kind kind, uint32_t qpop, const uint32_t *shared,
                             const uint32_t *pops, size_t n, size_t first_row, size_t word_count,
                             candidate *best) {
#define CONSIDER(KIND) consider_block(KIND, qpop, shared, pops, n, first_row, word_count, best)
    switch (kind) { /* one specialized loop per kind */
    case BK_SCORE_SHARED: CONSIDER(BK_SCORE_SHARED); break;
    case BK_SCORE_DIFFERING: CONSIDER(BK_SCORE_DIFFERING); break;
    case BK_SCORE_SHARED_MINUS_DIFFERING: CONSIDER(BK_SCORE_SHARED_MINUS_DIFFERING); break;
    case BK_SCORE_JACCARD: CONSIDER(BK_SCORE_JACCARD); break;
    }
#undef CONSIDER
}

static void consider_portable(bk_score_kind kind, uint32_t qpop, const uint32_t *shared,
                              const uint32_t *pops, size_t n, size_t first_row, size_t word_count,
                              candidate *best) {
    consider_kind(kind, qpop, shared, pops, n, first_row, word_count, best);
}

#if BK_X86
BK_TARGET_AVX2
static void consider_avx2(bk_score_kind kind, uint32_t qpop, const uint32_t *shared,
                          const uint32_t *pops, size_t n, size_t first_row, size_t word_count,
                          candidate *best) {
    consider_kind(kind, qpop, shared, pops, n, first_row, word_count, best);
}
BK_UNTARGET
#endif

/* The block reductions are compiler-vectorized: the AVX2 copy (8 lanes, see bk_table_has_avx2)
 * halves their cost per row against the portable one. */
static void consider(const bk_kernels *k, bk_score_kind kind, uint32_t qpop, const uint32_t *shared,
                     const uint32_t *pops, size_t n, size_t first_row, size_t word_count,
                     candidate *best) {
#if BK_X86
    if (bk_table_has_avx2(k)) {
        consider_avx2(kind, qpop, shared, pops, n, first_row, word_count, best);
        return;
    }
#endif
    (void)k;
    consider_portable(kind, qpop, shared, pops, n, first_row, word_count, best);
}

static candidate winner_range(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                              uint32_t qpop, const bk_rows *rows, size_t begin, size_t end) {
    uint32_t shared[BLOCK_ROWS], pop_buf[BLOCK_ROWS];
    candidate best = {-1, 0, 0};
    for (size_t b = begin; b < end; b += BLOCK_ROWS) {
        const size_t n = end - b < BLOCK_ROWS ? end - b : BLOCK_ROWS;
        const uint32_t *pops;
        block_counts(k, query, rows, b, n, shared, pop_buf, &pops);
        consider(k, kind, qpop, shared, pops, n, b, rows->word_count, &best);
    }
    return best;
}

/* The team for `rows` rows: one thread below BK_PAR_MIN_ROWS. */
static int team_for(size_t work_rows, int threads) {
    const int team = bk_team_size(threads);
    return work_rows < BK_PAR_MIN_ROWS || team < 1 ? 1 : team;
}

/* Thread t's contiguous share [begin, end) of n items among `team`. */
static void share_of(size_t n, int t, int team, size_t *begin, size_t *end) {
    *begin = n * (size_t)t / (size_t)team;
    *end = n * (size_t)(t + 1) / (size_t)team;
}

static uint32_t query_popcount(const bk_kernels *k, const uint64_t *query, size_t word_count) {
    return (uint32_t)k->popcount(query, word_count);
}

bk_match bk_score_winner(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                         const bk_rows *rows, int threads) {
    const uint32_t qpop = query_popcount(k, query, rows->word_count);
    const int team = team_for(rows->row_count, threads);
    candidate *partial = team > 1 ? malloc(sizeof(candidate) * (size_t)team) : NULL;
    if (partial == NULL) { /* one thread, or no memory for a team's results */
        const candidate best = winner_range(k, kind, query, qpop, rows, 0, rows->row_count);
        return match_of(kind, qpop, &best);
    }
    for (int t = 0; t < team; t++) partial[t].row = -1;
    int used = team;
#pragma omp parallel num_threads(team)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        size_t begin, end;
        share_of(rows->row_count, t, n, &begin, &end);
        partial[t] = winner_range(k, kind, query, qpop, rows, begin, end);
        if (t == 0) used = n;
    }
    candidate best = {-1, 0, 0};
    for (int t = 0; t < used; t++) /* in row order, so ties keep the lowest row */
        if (better(kind, qpop, &partial[t], &best)) best = partial[t];
    free(partial);
    return match_of(kind, qpop, &best);
}

void bk_score_rows(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                   const bk_rows *rows, float *scores, int threads) {
    const uint32_t qpop = query_popcount(k, query, rows->word_count);
    const size_t blocks = (rows->row_count + BLOCK_ROWS - 1) / BLOCK_ROWS;
    const int team = team_for(rows->row_count, threads);
#pragma omp parallel for schedule(static) num_threads(team) if (team > 1)
    for (size_t blk = 0; blk < blocks; blk++) {
        uint32_t shared[BLOCK_ROWS], pop_buf[BLOCK_ROWS];
        const size_t b = blk * BLOCK_ROWS;
        const size_t n = rows->row_count - b < BLOCK_ROWS ? rows->row_count - b : BLOCK_ROWS;
        const uint32_t *pops;
        block_counts(k, query, rows, b, n, shared, pop_buf, &pops);
        for (size_t i = 0; i < n; i++) scores[b + i] = score_of(kind, qpop, shared[i], pops[i]);
    }
}

/* Top-k keeps a best-first array of at most `top` candidates; a row enters by insertion, which
 * costs O(top) only when the row beats the current last entry. */
static void top_insert(bk_score_kind kind, uint32_t qpop, candidate *list, size_t *len, size_t top,
                       const candidate *c) {
    if (*len == top && !better(kind, qpop, c, &list[top - 1])) return;
    size_t pos = *len < top ? (*len)++ : top - 1;
    while (pos > 0 && better(kind, qpop, c, &list[pos - 1])) {
        list[pos] = list[pos - 1];
        pos--;
    }
    list[pos] = *c;
}

static size_t top_range(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                        uint32_t qpop, const bk_rows *rows, size_t begin, size_t end, size_t top,
                        candidate *list) {
    uint32_t shared[BLOCK_ROWS], pop_buf[BLOCK_ROWS];
    size_t len = 0;
    for (size_t b = begin; b < end; b += BLOCK_ROWS) {
        const size_t n = end - b < BLOCK_ROWS ? end - b : BLOCK_ROWS;
        const uint32_t *pops;
        block_counts(k, query, rows, b, n, shared, pop_buf, &pops);
        for (size_t i = 0; i < n; i++) {
            const candidate c = {(int64_t)(b + i), shared[i], pops[i]};
            top_insert(kind, qpop, list, &len, top, &c);
        }
    }
    return len;
}

/* Does c come after `last` in top-k order (a worse score, or the same with a higher row)? */
static bool ranks_after(bk_score_kind kind, uint32_t qpop, const candidate *c, const candidate *last) {
    return better(kind, qpop, last, c) || (!better(kind, qpop, c, last) && c->row > last->row);
}

/* Top-k without heap memory, when malloc fails: passes over all rows, each keeping on the stack
 * the best PASS_TOP rows that come after the last row already written. */
static size_t top_in_passes(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                            uint32_t qpop, const bk_rows *rows, size_t top, bk_match *out) {
    enum { PASS_TOP = 64 };
    candidate list[PASS_TOP], last = {-1, 0, 0};
    uint32_t shared[BLOCK_ROWS], pop_buf[BLOCK_ROWS];
    size_t done = 0;
    while (done < top) {
        const size_t want = top - done < PASS_TOP ? top - done : PASS_TOP;
        size_t len = 0;
        for (size_t b = 0; b < rows->row_count; b += BLOCK_ROWS) {
            const size_t n = rows->row_count - b < BLOCK_ROWS ? rows->row_count - b : BLOCK_ROWS;
            const uint32_t *pops;
            block_counts(k, query, rows, b, n, shared, pop_buf, &pops);
            for (size_t i = 0; i < n; i++) {
                const candidate c = {(int64_t)(b + i), shared[i], pops[i]};
                if (last.row < 0 || ranks_after(kind, qpop, &c, &last))
                    top_insert(kind, qpop, list, &len, want, &c);
            }
        }
        if (len == 0) break;
        for (size_t i = 0; i < len; i++) out[done + i] = match_of(kind, qpop, &list[i]);
        done += len;
        last = list[len - 1];
    }
    return done;
}

size_t bk_score_top(const bk_kernels *k, bk_score_kind kind, const uint64_t *query,
                    const bk_rows *rows, size_t top, bk_match *out, int threads) {
    if (top > rows->row_count) top = rows->row_count;
    if (top == 0) return 0;
    const uint32_t qpop = query_popcount(k, query, rows->word_count);
    const int team = team_for(rows->row_count, threads);
    candidate *lists = malloc(sizeof(candidate) * top * (size_t)team);
    size_t *lens = calloc((size_t)team, sizeof(size_t));
    candidate *merged = malloc(sizeof(candidate) * top);
    if (lists == NULL || lens == NULL || merged == NULL) {
        free(merged);
        free(lens);
        free(lists);
        return top_in_passes(k, kind, query, qpop, rows, top, out);
    }
#pragma omp parallel num_threads(team) if (team > 1)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        size_t begin, end;
        share_of(rows->row_count, t, n, &begin, &end);
        lens[t] = top_range(k, kind, query, qpop, rows, begin, end, top, lists + (size_t)t * top);
    }
    /* Merge the per-thread lists, earlier threads first so equal scores keep the lower row. */
    size_t len = 0;
    for (int t = 0; t < team; t++)
        for (size_t i = 0; i < lens[t]; i++)
            top_insert(kind, qpop, merged, &len, top, &lists[(size_t)t * top + i]);
    for (size_t i = 0; i < len; i++) out[i] = match_of(kind, qpop, &merged[i]);
    free(merged);
    free(lens);
    free(lists);
    return len;
}

/* Winners of queries [q_begin, q_end), walking the rows in blocks of block_rows scored by all
 * those queries while the block is hot. False, with nothing written, when memory runs out. */
static bool winners_share(const bk_kernels *k, bk_score_kind kind, const uint64_t *queries,
                          size_t query_stride_words, size_t q_begin, size_t q_end,
                          const bk_rows *rows, size_t block_rows, bk_match *out) {
    const size_t mine = q_end - q_begin;
    candidate *best = malloc(sizeof(candidate) * (mine ? mine : 1));
    uint32_t *qpops = malloc(sizeof(uint32_t) * (mine ? mine : 1));
    uint32_t *pops_buf = rows->row_popcounts ? NULL : malloc(sizeof(uint32_t) * block_rows);
    const bool ok = best != NULL && qpops != NULL && (pops_buf != NULL || rows->row_popcounts);
    uint32_t shared[BLOCK_ROWS];
    for (size_t q = 0; ok && q < mine; q++) {
        best[q].row = -1;
        qpops[q] = query_popcount(k, queries + (q_begin + q) * query_stride_words, rows->word_count);
    }
    for (size_t rb = 0; ok && mine > 0 && rb < rows->row_count; rb += block_rows) {
        const size_t rn = rows->row_count - rb < block_rows ? rows->row_count - rb : block_rows;
        const uint32_t *pops;
        if (rows->row_popcounts) {
            pops = rows->row_popcounts + rb;
        } else {
            k->row_popcounts(rows->words + rb * rows->stride_words, rows->stride_words,
                             rows->word_count, rn, pops_buf);
            pops = pops_buf;
        }
        for (size_t q = 0; q < mine; q++) {
            const uint64_t *query = queries + (q_begin + q) * query_stride_words;
            for (size_t b = 0; b < rn; b += BLOCK_ROWS) {
                const size_t bn = rn - b < BLOCK_ROWS ? rn - b : BLOCK_ROWS;
                k->and_counts(query, rows->words + (rb + b) * rows->stride_words,
                              rows->stride_words, rows->word_count, bn, shared);
                consider(k, kind, qpops[q], shared, pops + b, bn, rb + b, rows->word_count, &best[q]);
            }
        }
    }
    for (size_t q = 0; ok && q < mine; q++) out[q_begin + q] = match_of(kind, qpops[q], &best[q]);
    free(pops_buf);
    free(qpops);
    free(best);
    return ok;
}

/* Many-vs-many: each thread owns a contiguous range of queries and walks the rows in blocks of
 * about 128 KiB (L2-resident on current cores), scoring all its queries against a block while it
 * is hot; row popcounts are computed once per block, not once per query. */
void bk_score_winners_batch(const bk_kernels *k, bk_score_kind kind, const uint64_t *queries,
                            size_t query_stride_words, size_t query_count, const bk_rows *rows,
                            bk_match *out, int threads) {
    const size_t row_bytes = (rows->stride_words ? rows->stride_words : 1) * 8;
    size_t block_rows = (128 * 1024) / row_bytes / BLOCK_ROWS * BLOCK_ROWS;
    if (block_rows < BLOCK_ROWS) block_rows = BLOCK_ROWS;
    const int team = team_for(query_count * (rows->row_count + 1), threads);
#pragma omp parallel num_threads(team) if (team > 1)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        size_t q_begin, q_end;
        share_of(query_count, t, n, &q_begin, &q_end);
        if (!winners_share(k, kind, queries, query_stride_words, q_begin, q_end, rows, block_rows, out))
            for (size_t q = q_begin; q < q_end; q++) { /* without memory: one query at a time */
                const uint64_t *query = queries + q * query_stride_words;
                const uint32_t qpop = query_popcount(k, query, rows->word_count);
                const candidate c = winner_range(k, kind, query, qpop, rows, 0, rows->row_count);
                out[q] = match_of(kind, qpop, &c);
            }
    }
}
