/* row_counts.c — per-row counts for one-vs-many scoring: |query AND row| for each row of a
 * matrix, and popcount(row) for each row. Rows are short (784 bits is 13 words), so the SIMD
 * variants work on four rows at a time and pay one horizontal reduction per four rows. */
#include "bk_simd.h"

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
/* Counts for `row_group` (1 or 4) rows; query NULL counts the rows' own bits. Byte counters are
 * flushed through VPSADBW every 31 vectors, before a byte (at most 8 per vector) can overflow. */
BK_INLINE void and_counts_group_avx2(const uint64_t *query, const uint64_t *rows,
                                     size_t stride_words, size_t word_count, uint32_t *out,
                                     const int row_group) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i total[4] = {zero, zero, zero, zero};
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
    /* The last 1–3 words go to the scalar POPCNT unit, which runs beside the vector pipes;
     * cheaper than a masked load (measured on Zen 4, 784-bit rows: 3.35 → 2.61 ns per row). */
    uint64_t tail[4] = {0, 0, 0, 0};
    for (size_t w = full; w < word_count; w++) {
        const uint64_t q = query ? query[w] : ~0ull;
        for (int g = 0; g < row_group; g++)
            tail[g] += (uint64_t)__builtin_popcountll(q & rows[g * stride_words + w]);
    }
    if (row_group == 4) {
        /* Transpose-and-add: lanes [r0, r1, r2, r3] of 64-bit sums, then narrow to 32 bits. */
        const __m256i t01 = _mm256_add_epi64(_mm256_unpacklo_epi64(total[0], total[1]),
                                             _mm256_unpackhi_epi64(total[0], total[1]));
        const __m256i t23 = _mm256_add_epi64(_mm256_unpacklo_epi64(total[2], total[3]),
                                             _mm256_unpackhi_epi64(total[2], total[3]));
        const __m256i sums = _mm256_add_epi64(_mm256_permute2x128_si256(t01, t23, 0x20),
                                              _mm256_permute2x128_si256(t01, t23, 0x31));
        const __m256i narrow =
            _mm256_permutevar8x32_epi32(sums, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
        const __m128i tails = _mm_setr_epi32((int)tail[0], (int)tail[1], (int)tail[2], (int)tail[3]);
        _mm_storeu_si128((__m128i *)out, _mm_add_epi32(_mm256_castsi256_si128(narrow), tails));
    } else {
        for (int g = 0; g < row_group; g++) out[g] = (uint32_t)(bk_avx2_hsum_epi64(total[g]) + tail[g]);
    }
}

/* Rows of at least LONG_ROW_WORDS words (2048 bits) are scanned one at a time: four long rows
 * read in lockstep are four memory streams, which the prefetchers follow badly (4096-bit rows
 * from DRAM on Zen 4: 62 ns per row four at a time, 19 ns one at a time; software prefetch made
 * it worse), and a long row amortizes its own reduction. */
enum { LONG_ROW_WORDS = 32 };

BK_INLINE void row_counts_avx2(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                               size_t word_count, size_t row_count, uint32_t *out) {
    size_t r = 0;
    if (word_count < LONG_ROW_WORDS)
        for (; r + 4 <= row_count; r += 4)
        and_counts_group_avx2(query, rows + r * stride_words, stride_words, word_count, out + r, 4);
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
/* The AVX2 structure with VPOPCNTDQ per 8 words, and a masked load only for the tail (masked
 * loads throughout cost 2560-bit rows in L2 9 → 17 B/cycle). */
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
        /* Fold each 8-lane total to 4 lanes, then the AVX2 transpose-and-add: one store of 4
         * counts instead of four full horizontal reductions (784-bit rows: 2.2 → 1.9 ns per row). */
        __m256i t[4];
        for (int g = 0; g < 4; g++)
            t[g] = _mm256_add_epi64(_mm512_castsi512_si256(total[g]), _mm512_extracti64x4_epi64(total[g], 1));
        const __m256i t01 = _mm256_add_epi64(_mm256_unpacklo_epi64(t[0], t[1]), _mm256_unpackhi_epi64(t[0], t[1]));
        const __m256i t23 = _mm256_add_epi64(_mm256_unpacklo_epi64(t[2], t[3]), _mm256_unpackhi_epi64(t[2], t[3]));
        const __m256i sums = _mm256_add_epi64(_mm256_permute2x128_si256(t01, t23, 0x20),
                                              _mm256_permute2x128_si256(t01, t23, 0x31));
        _mm_storeu_si128((__m128i *)out, _mm256_cvtepi64_epi32(sums));
    } else {
        for (int g = 0; g < row_group; g++) out[g] = (uint32_t)_mm512_reduce_add_epi64(total[g]);
    }
}

BK_INLINE void row_counts_avx512(const uint64_t *query, const uint64_t *rows, size_t stride_words,
                                 size_t word_count, size_t row_count, uint32_t *out) {
    size_t r = 0;
    if (word_count < LONG_ROW_WORDS) /* as in the AVX2 variant */
        for (; r + 4 <= row_count; r += 4)
        and_counts_group_avx512(query, rows + r * stride_words, stride_words, word_count, out + r, 4);
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
