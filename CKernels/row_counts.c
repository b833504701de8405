/* row_counts.c — per-row counts for one-vs-many scoring: |query AND row| for each row of a
 * matrix, and popcount(row) for each row. Rows are short (784 bits is 13 words), so the SIMD
 * variants work on four rows at a time and pay one horizontal reduction per four rows. */
#include "bk_simd.h"

/* A noinline copy of an always-inline row-count body for one constant V (vectors per row), so
 * that each V gets its own register allocation; the bodies say what sharing one cost. */
#define ROW_COUNTS_COPY(body, V)                                                                   \
    static __attribute__((noinline)) void body##_##V(const uint64_t *query, const uint64_t *rows, \
                                                     size_t stride_words, size_t word_count,      \
                                                     size_t row_count, uint32_t *out) {           \
        body(query, rows, stride_words, word_count, row_count, out, V);                            \
    }

/* The specification. */
BK_INLINE void and_counts_rows(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                               size_t word_count, size_t row_count, uint32_t *out) {
    for (size_t r = 0; r < row_count; r++) {
        const uint64_t *row = rows + r * stride_words;
        uint64_t n = 0;
        for (size_t i = 0; i < word_count; i++)
            n += (uint64_t)__builtin_popcountll((query ? query[i] : ~0ull) & row[i]);
        out[r] = (uint32_t)n;
    }
}

void bk_and_counts_scalar(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                          size_t word_count, size_t row_count, uint32_t *out) {
    and_counts_rows(query, rows, stride_words, word_count, row_count, out);
}

void bk_row_popcounts_scalar(const uint64_t *rows, size_t stride_words, size_t word_count,
                             size_t row_count, uint32_t *out) {
    and_counts_rows(NULL, rows, stride_words, word_count, row_count, out);
}

#if BK_X86
BK_TARGET_AVX2
/* The counts of four rows from their per-row 64-bit lane sums plus scalar tails (NULL: none), as
 * 32-bit lanes [r0, r1, r2, r3] (one store instead of four reductions). A lane sum is at most a
 * quarter of the row's width and the tails at most 192, so with widths below 2^32 (the counts are
 * uint32) rows 0/1 and 2/3 can share a lane as two 32-bit halves and the tails travel as four
 * 16-bit fields of one register: 12 vector operations where a 64-bit transpose and four inserts
 * take 19. */
BK_INLINE __m128i four_row_totals_avx2(const __m256i sums[4], const uint64_t tail[4]) {
    const __m256i r01 = _mm256_or_si256(sums[0], _mm256_slli_epi64(sums[1], 32));
    const __m256i r23 = _mm256_or_si256(sums[2], _mm256_slli_epi64(sums[3], 32));
    const __m256i halves = _mm256_add_epi32(_mm256_unpacklo_epi64(r01, r23), _mm256_unpackhi_epi64(r01, r23));
    const __m128i rows = _mm_add_epi32(_mm256_castsi256_si128(halves), _mm256_extracti128_si256(halves, 1));
    if (tail == NULL) return rows;
    const uint64_t packed_tails = tail[0] | tail[1] << 16 | tail[2] << 32 | tail[3] << 48;
    return _mm_add_epi32(rows, _mm_cvtepu16_epi32(_mm_cvtsi64_si128((long long)packed_tails)));
}

/* The 64-bit lane sums and scalar tails of `row_group` (1 or 4) rows; query NULL counts the rows'
 * own bits. Byte counters are flushed through VPSADBW every 31 vectors, before a byte (at most 8
 * per vector) can overflow. */
BK_INLINE void group_sums_avx2(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                               size_t word_count, const int row_group, __m256i total[4],
                               uint64_t tail[4]) {
    const __m256i zero = _mm256_setzero_si256();
    for (int g = 0; g < row_group; g++) total[g] = zero;
    const size_t full = word_count / 4 * 4;
    size_t i = 0;
    while (i < full) {
        const size_t chunk_end = full - i > 31 * 4 ? i + 31 * 4 : full;
        __m256i bytes[4] = {zero, zero, zero, zero};
        for (; i < chunk_end; i += 4) {
            const __m256i q = query ? _mm256_loadu_si256((const __m256i *)(query + i))
                                    : _mm256_set1_epi64x(-1);
            for (int g = 0; g < row_group; g++) {
                const __m256i row = _mm256_loadu_si256((const __m256i *)(rows + g * stride_words + i));
                bytes[g] = _mm256_add_epi8(bytes[g], bk_avx2_popcount_bytes(_mm256_and_si256(q, row)));
            }
        }
        for (int g = 0; g < row_group; g++)
            total[g] = _mm256_add_epi64(total[g], _mm256_sad_epu8(bytes[g], zero));
    }
    /* The last 1–3 words go to the scalar POPCNT unit, which runs beside the vector pipes:
     * cheaper than a masked load for short rows (measured). */
    for (int g = 0; g < row_group; g++) tail[g] = 0;
    for (size_t w = full; w < word_count; w++) {
        const uint64_t q = query ? query[w] : ~0ull;
        for (int g = 0; g < row_group; g++) {
            uint64_t c = (uint64_t)__builtin_popcountll(q & rows[g * stride_words + w]);
            __asm__("" : "+r"(c)); /* a scalar count, as in and_counts_short_rows_avx2 */
            tail[g] += c;
        }
    }
}

BK_INLINE void and_counts_group_avx2(const uint64_t *query, const uint64_t *rows,
                                     size_t stride_words, size_t word_count, uint32_t *out,
                                     const int row_group) {
    __m256i total[4];
    uint64_t tail[4];
    group_sums_avx2(query, rows, stride_words, word_count, row_group, total, tail);
    if (row_group == 4) {
        _mm_storeu_si128((__m128i *)out, four_row_totals_avx2(total, tail));
    } else {
        for (int g = 0; g < row_group; g++) out[g] = (uint32_t)(bk_avx2_hsum_epi64(total[g]) + tail[g]);
    }
}

/* Long rows, four at a time but each read to its end before the next: one memory stream, and
 * one four-row reduction instead of four horizontal sums. */
BK_INLINE void and_counts_long_rows_avx2(const uint64_t *query, const uint64_t *rows,
                                         size_t stride_words, size_t word_count, uint32_t *out) {
    __m256i total[4];
    uint64_t tail[4];
    for (int g = 0; g < 4; g++)
        group_sums_avx2(query, rows + g * stride_words, stride_words, word_count, 1, &total[g], &tail[g]);
    _mm_storeu_si128((__m128i *)out, four_row_totals_avx2(total, tail));
}

/* Four rows at a time for rows of 4·V to 4·V + 3 words (V = 1…3: widths up to 960 bits, the
 * common case of short rows): the query's V vectors stay in registers across all rows and the
 * loops unroll completely; no byte counter can overflow (at most 8·V per byte). Faster than the
 * general loop above up to V = 3; at V = 4 the twelve live vectors gain nothing. */
BK_INLINE void and_counts_short_rows_avx2(const uint64_t *query, const uint64_t *rows,
                                          size_t stride_words, size_t word_count, size_t row_count,
                                          uint32_t *out, const int V) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i q[3];
    for (int v = 0; v < V; v++)
        q[v] = query ? _mm256_loadu_si256((const __m256i *)(query + 4 * v)) : _mm256_set1_epi64x(-1);
    const size_t vector_words = 4 * (size_t)V;
    for (size_t r = 0; r + 4 <= row_count; r += 4) {
        const uint64_t *group = rows + r * stride_words;
        __m256i sums[4];
        for (int g = 0; g < 4; g++) {
            const __m256i *row = (const __m256i *)(group + g * stride_words);
            __m256i bytes = bk_avx2_popcount_bytes(_mm256_and_si256(q[0], _mm256_loadu_si256(row)));
            for (int v = 1; v < V; v++)
                bytes = _mm256_add_epi8(
                    bytes, bk_avx2_popcount_bytes(_mm256_and_si256(q[v], _mm256_loadu_si256(row + v))));
            sums[g] = _mm256_sad_epu8(bytes, zero);
        }
        /* The last 0–3 words on the scalar POPCNT unit, beside the vector pipes. The empty asm
         * keeps each count in a general register: clang otherwise gathers the four rows' words
         * into a vector for a nibble-lookup popcount, which costs more than it saves. */
        uint64_t tail[4] = {0, 0, 0, 0};
        for (size_t w = vector_words; w < word_count; w++) {
            const uint64_t qw = query ? query[w] : ~0ull;
            for (int g = 0; g < 4; g++) {
                uint64_t c = (uint64_t)__builtin_popcountll(qw & group[g * stride_words + w]);
                __asm__("" : "+r"(c));
                tail[g] += c;
            }
        }
        _mm_storeu_si128((__m128i *)(out + r), four_row_totals_avx2(sums, tail));
    }
}

/* One copy per V (inlined into one caller, the three copies spilled the query vectors). */
ROW_COUNTS_COPY(and_counts_short_rows_avx2, 1)
ROW_COUNTS_COPY(and_counts_short_rows_avx2, 2)
ROW_COUNTS_COPY(and_counts_short_rows_avx2, 3)

/* Rows of at least LONG_ROW_WORDS words (2048 bits) are read one after another: four long rows
 * read in lockstep are four memory streams, which the prefetchers follow badly (3× slower from
 * DRAM; software prefetch does not help). They still share one four-row reduction. */
enum { LONG_ROW_WORDS = 32 };

BK_INLINE void row_counts_avx2(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                               size_t word_count, size_t row_count, uint32_t *out) {
    size_t r = row_count / 4 * 4;
    switch (word_count / 4) {
    case 1: and_counts_short_rows_avx2_1(query, rows, stride_words, word_count, row_count, out); break;
    case 2: and_counts_short_rows_avx2_2(query, rows, stride_words, word_count, row_count, out); break;
    case 3: and_counts_short_rows_avx2_3(query, rows, stride_words, word_count, row_count, out); break;
    default:
        r = 0;
        if (word_count < LONG_ROW_WORDS)
            for (; r + 4 <= row_count; r += 4)
                and_counts_group_avx2(query, rows + r * stride_words, stride_words, word_count, out + r, 4);
        else
            for (; r + 4 <= row_count; r += 4)
                and_counts_long_rows_avx2(query, rows + r * stride_words, stride_words, word_count, out + r);
    }
    for (; r < row_count; r++)
        and_counts_group_avx2(query, rows + r * stride_words, stride_words, word_count, out + r, 1);
}

void bk_and_counts_avx2(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                        size_t word_count, size_t row_count, uint32_t *out) {
    row_counts_avx2(query, rows, stride_words, word_count, row_count, out);
}

void bk_row_popcounts_avx2(const uint64_t *rows, size_t stride_words, size_t word_count,
                           size_t row_count, uint32_t *out) {
    row_counts_avx2(NULL, rows, stride_words, word_count, row_count, out);
}
BK_UNTARGET

BK_TARGET_AVX512
/* Each 8-lane total folded to 4 lanes, then the AVX2 four-row reduction: one store of 4 counts
 * instead of four full horizontal reductions. */
BK_INLINE __m128i four_row_totals_avx512(const __m512i total[4]) {
    __m256i t[4];
    for (int g = 0; g < 4; g++)
        t[g] = _mm256_add_epi64(_mm512_castsi512_si256(total[g]), _mm512_extracti64x4_epi64(total[g], 1));
    return four_row_totals_avx2(t, NULL);
}

/* The AVX2 structure with VPOPCNTDQ per 8 words, and a masked load only for the tail (masked
 * loads throughout halve the rate from L2). */
BK_INLINE void and_counts_group_avx512(const uint64_t *query, const uint64_t *rows,
                                       size_t stride_words, size_t word_count, uint32_t *out,
                                       const int row_group) {
    __m512i total[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()};
    size_t i = 0;
    for (; i + 8 <= word_count; i += 8) {
        const __m512i q = query ? _mm512_loadu_si512(query + i) : _mm512_set1_epi64(-1);
        for (int g = 0; g < row_group; g++) {
            const __m512i row = _mm512_loadu_si512(rows + g * stride_words + i);
            total[g] = _mm512_add_epi64(total[g], _mm512_popcnt_epi64(_mm512_and_si512(q, row)));
        }
    }
    for (; i < word_count; i += 8) {
        const size_t n = word_count - i < 8 ? word_count - i : 8;
        const __mmask8 m = (__mmask8)((1u << n) - 1);
        const __m512i q = query ? _mm512_maskz_loadu_epi64(m, query + i) : _mm512_set1_epi64(-1);
        for (int g = 0; g < row_group; g++) {
            const __m512i row = _mm512_maskz_loadu_epi64(m, rows + g * stride_words + i);
            total[g] = _mm512_add_epi64(total[g], _mm512_popcnt_epi64(_mm512_and_si512(q, row)));
        }
    }
    if (row_group == 4) {
        _mm_storeu_si128((__m128i *)out, four_row_totals_avx512(total));
    } else {
        for (int g = 0; g < row_group; g++) out[g] = (uint32_t)_mm512_reduce_add_epi64(total[g]);
    }
}

/* One long row's lane sums, two accumulators deep: ~1.2× one accumulator for rows in L2. */
BK_INLINE __m512i long_row_sums_avx512(const uint64_t *query, const uint64_t *row, size_t word_count) {
    const __m512i all = _mm512_set1_epi64(-1);
    __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 16 <= word_count; i += 16) {
        const __m512i q0 = query ? _mm512_loadu_si512(query + i) : all;
        const __m512i q1 = query ? _mm512_loadu_si512(query + i + 8) : all;
        a = _mm512_add_epi64(a, _mm512_popcnt_epi64(_mm512_and_si512(q0, _mm512_loadu_si512(row + i))));
        b = _mm512_add_epi64(b, _mm512_popcnt_epi64(_mm512_and_si512(q1, _mm512_loadu_si512(row + i + 8))));
    }
    for (; i < word_count; i += 8) {
        const size_t n = word_count - i < 8 ? word_count - i : 8;
        const __mmask8 m = (__mmask8)((1u << n) - 1);
        const __m512i q = query ? _mm512_maskz_loadu_epi64(m, query + i) : all;
        a = _mm512_add_epi64(a, _mm512_popcnt_epi64(_mm512_and_si512(q, _mm512_maskz_loadu_epi64(m, row + i))));
    }
    return _mm512_add_epi64(a, b);
}

/* Rows of 4·8 to 16·8 words (2048–8192 bits, the widths of BitNet-sized layers) with the query
 * held in V registers for the whole call: each 64-byte slice of a row is then one load instead of
 * two, and the load ports are the limit for rows in L2. Rows are still read one after another
 * (software prefetch makes every width slower). The last of the V vectors is a masked load of the
 * 1–8 remaining words, also when all 8 remain: a plain load there costs a third of the DRAM rate. */
BK_INLINE void and_counts_register_query_avx512(const uint64_t *query, const uint64_t *rows,
                                                size_t stride_words, size_t word_count,
                                                size_t row_count, uint32_t *out, const int V) {
    const __mmask8 tail = (__mmask8)((1u << (word_count - 8 * (size_t)(V - 1))) - 1);
    __m512i q[16];
    for (int v = 0; v < V - 1; v++) q[v] = query ? _mm512_loadu_si512(query + 8 * v) : _mm512_set1_epi64(-1);
    q[V - 1] = query ? _mm512_maskz_loadu_epi64(tail, query + 8 * (V - 1)) : _mm512_set1_epi64(-1);
    for (size_t r = 0; r + 4 <= row_count; r += 4) {
        __m512i total[4];
        for (int g = 0; g < 4; g++) {
            const uint64_t *row = rows + (r + g) * stride_words;
            __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
            for (int v = 0; v < V - 1; v++) {
                const __m512i c = _mm512_popcnt_epi64(_mm512_and_si512(q[v], _mm512_loadu_si512(row + 8 * v)));
                if (v % 2) odd = _mm512_add_epi64(odd, c);
                else even = _mm512_add_epi64(even, c);
            }
            const __m512i last = _mm512_maskz_loadu_epi64(tail, row + 8 * (V - 1));
            odd = _mm512_add_epi64(odd, _mm512_popcnt_epi64(_mm512_and_si512(q[V - 1], last)));
            total[g] = _mm512_add_epi64(even, odd);
        }
        _mm_storeu_si128((__m128i *)(out + r), four_row_totals_avx512(total));
    }
}

/* One copy per V = 4…16 and a table of them: with V known only at run time the query spills. */
#define REGISTER_QUERY_VECTORS(X) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16)
#define COPY(V) ROW_COUNTS_COPY(and_counts_register_query_avx512, V)
REGISTER_QUERY_VECTORS(COPY)
#undef COPY

typedef void row_counts_fn(const uint64_t *, const uint64_t *, size_t, size_t, size_t, uint32_t *);
#define ENTRY(V) [V] = and_counts_register_query_avx512_##V,
static row_counts_fn *const register_query_avx512[17] = {REGISTER_QUERY_VECTORS(ENTRY)};
#undef ENTRY
#undef REGISTER_QUERY_VECTORS

/* As and_counts_long_rows_avx2, for rows too long to keep the query in registers. */
BK_INLINE void and_counts_long_rows_avx512(const uint64_t *query, const uint64_t *rows,
                                           size_t stride_words, size_t word_count, uint32_t *out) {
    __m512i total[4];
    for (int g = 0; g < 4; g++) total[g] = long_row_sums_avx512(query, rows + g * stride_words, word_count);
    _mm_storeu_si128((__m128i *)out, four_row_totals_avx512(total));
}

BK_INLINE void row_counts_avx512(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                                 size_t word_count, size_t row_count, uint32_t *out) {
    size_t r = 0;
    if (word_count < LONG_ROW_WORDS) { /* as in the AVX2 variant */
        /* Short rows streamed from DRAM: the same per-CPU prefetch distance as the ternary GEMV's
         * weight stream (4 KiB on Intel, none elsewhere; bk_stream_prefetch_default_distance). On Emerald
         * Rapids it took a 10^6 x 1024-bit single-query scan from 8.0 to 12.8 GB/s on one thread;
         * results never depend on it (a prefetch cannot fault or change a load). */
        const size_t ahead = bk_stream_prefetch_distance();
        for (; r + 4 <= row_count; r += 4) {
            const char *group = (const char *)(rows + r * stride_words);
            if (ahead)
                for (size_t b = 0; b < 4 * stride_words * sizeof(uint64_t); b += 64)
                    _mm_prefetch(group + ahead + b, _MM_HINT_T0);
            and_counts_group_avx512(query, rows + r * stride_words, stride_words, word_count, out + r, 4);
        }
    } else if (word_count <= 8 * 16) {
        register_query_avx512[(word_count + 7) / 8](query, rows, stride_words, word_count, row_count, out);
        r = row_count / 4 * 4;
    } else {
        for (; r + 4 <= row_count; r += 4)
            and_counts_long_rows_avx512(query, rows + r * stride_words, stride_words, word_count, out + r);
    }
    for (; r < row_count; r++)
        and_counts_group_avx512(query, rows + r * stride_words, stride_words, word_count, out + r, 1);
}

void bk_and_counts_avx512(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                          size_t word_count, size_t row_count, uint32_t *out) {
    row_counts_avx512(query, rows, stride_words, word_count, row_count, out);
}

void bk_row_popcounts_avx512(const uint64_t *rows, size_t stride_words, size_t word_count,
                             size_t row_count, uint32_t *out) {
    row_counts_avx512(NULL, rows, stride_words, word_count, row_count, out);
}
BK_UNTARGET
#endif

#if BK_AARCH64
/* CNT per 2 words, widened into 32-bit lanes so rows of any width cannot overflow. */
BK_INLINE void row_counts_neon(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                               size_t word_count, size_t row_count, uint32_t *out) {
    for (size_t r = 0; r < row_count; r++) {
        const uint64_t *row = rows + r * stride_words;
        uint32x4_t total = vdupq_n_u32(0);
        size_t i = 0;
        for (; i + 2 <= word_count; i += 2) {
            const uint64x2_t q = query ? vld1q_u64(query + i) : vdupq_n_u64(~0ull);
            const uint8x16_t c = vcntq_u8(vreinterpretq_u8_u64(vandq_u64(q, vld1q_u64(row + i))));
            total = vpadalq_u16(total, vpaddlq_u8(c));
        }
        uint64_t n = vaddlvq_u32(total);
        if (i < word_count) n += (uint64_t)__builtin_popcountll((query ? query[i] : ~0ull) & row[i]);
        out[r] = (uint32_t)n;
    }
}

void bk_and_counts_neon(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                        size_t word_count, size_t row_count, uint32_t *out) {
    row_counts_neon(query, rows, stride_words, word_count, row_count, out);
}

void bk_row_popcounts_neon(const uint64_t *rows, size_t stride_words, size_t word_count,
                           size_t row_count, uint32_t *out) {
    row_counts_neon(NULL, rows, stride_words, word_count, row_count, out);
}
#endif
