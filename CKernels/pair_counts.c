/* pair_counts.c — |a AND b|, |a XOR b| and |a OR b| of two bit-vectors in one pass.
 * Since a OR b = (a AND b) + (a XOR b) as disjoint sets, the SIMD variants count two streams. */
#include "bk_simd.h"

/* The specification. */
BK_INLINE bk_pair_counts pair_counts_words(const uint64_t *a, const uint64_t *b, size_t word_count) {
    bk_pair_counts c = {0, 0, 0};
    for (size_t i = 0; i < word_count; i++) {
        c.and_count += (uint64_t)__builtin_popcountll(a[i] & b[i]);
        c.xor_count += (uint64_t)__builtin_popcountll(a[i] ^ b[i]);
        c.or_count += (uint64_t)__builtin_popcountll(a[i] | b[i]);
    }
    return c;
}

bk_pair_counts bk_pair_counts_scalar(const uint64_t *a, const uint64_t *b, size_t word_count) {
    return pair_counts_words(a, b, word_count);
}

#if BK_X86
BK_TARGET_POPCNT
bk_pair_counts bk_pair_counts_popcnt_loop(const uint64_t *a, const uint64_t *b, size_t word_count) {
    return pair_counts_words(a, b, word_count);
}
BK_UNTARGET

BK_TARGET_AVX2
/* Two Harley–Seal accumulators (as in popcount.c), one for AND and one for XOR, fed by 8 vectors
 * of each input per step; short buffers go to the POPCNT loop. */
bk_pair_counts bk_pair_counts_avx2(const uint64_t *a, const uint64_t *b, size_t word_count) {
    if (word_count < 32) return pair_counts_words(a, b, word_count);
    const size_t vectors = word_count / 4;
    const __m256i *va = (const __m256i *)a, *vb = (const __m256i *)b;
    __m256i and_total = _mm256_setzero_si256(), xor_total = _mm256_setzero_si256();
    __m256i and1 = _mm256_setzero_si256(), and2 = _mm256_setzero_si256(), and4 = _mm256_setzero_si256();
    __m256i xor1 = _mm256_setzero_si256(), xor2 = _mm256_setzero_si256(), xor4 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= vectors; i += 8) {
        /* AND and XOR trees advance together, two vector pairs at a time, so that few vectors
         * are live at once (preloading all 16 spilled registers). */
        __m256i and_two[2], xor_two[2], and_four[2], xor_four[2];
        for (int half = 0; half < 2; half++) {
            for (int q = 0; q < 2; q++) {
                const size_t k = i + 4 * (size_t)half + 2 * (size_t)q;
                const __m256i x0 = _mm256_loadu_si256(va + k), y0 = _mm256_loadu_si256(vb + k);
                const __m256i x1 = _mm256_loadu_si256(va + k + 1), y1 = _mm256_loadu_si256(vb + k + 1);
                bk_avx2_csa(&and_two[q], &and1, _mm256_and_si256(x0, y0), _mm256_and_si256(x1, y1), and1);
                bk_avx2_csa(&xor_two[q], &xor1, _mm256_xor_si256(x0, y0), _mm256_xor_si256(x1, y1), xor1);
            }
            bk_avx2_csa(&and_four[half], &and2, and_two[0], and_two[1], and2);
            bk_avx2_csa(&xor_four[half], &xor2, xor_two[0], xor_two[1], xor2);
        }
        __m256i and_eight, xor_eight;
        bk_avx2_csa(&and_eight, &and4, and_four[0], and_four[1], and4);
        bk_avx2_csa(&xor_eight, &xor4, xor_four[0], xor_four[1], xor4);
        and_total = _mm256_add_epi64(and_total, bk_avx2_popcount_epi64(and_eight));
        xor_total = _mm256_add_epi64(xor_total, bk_avx2_popcount_epi64(xor_eight));
    }
    and_total = _mm256_slli_epi64(and_total, 3);
    and_total = _mm256_add_epi64(and_total, _mm256_slli_epi64(bk_avx2_popcount_epi64(and4), 2));
    and_total = _mm256_add_epi64(and_total, _mm256_slli_epi64(bk_avx2_popcount_epi64(and2), 1));
    and_total = _mm256_add_epi64(and_total, bk_avx2_popcount_epi64(and1));
    xor_total = _mm256_slli_epi64(xor_total, 3);
    xor_total = _mm256_add_epi64(xor_total, _mm256_slli_epi64(bk_avx2_popcount_epi64(xor4), 2));
    xor_total = _mm256_add_epi64(xor_total, _mm256_slli_epi64(bk_avx2_popcount_epi64(xor2), 1));
    xor_total = _mm256_add_epi64(xor_total, bk_avx2_popcount_epi64(xor1));
    for (; i < vectors; i++) {
        const __m256i x = _mm256_loadu_si256(va + i), y = _mm256_loadu_si256(vb + i);
        and_total = _mm256_add_epi64(and_total, bk_avx2_popcount_epi64(_mm256_and_si256(x, y)));
        xor_total = _mm256_add_epi64(xor_total, bk_avx2_popcount_epi64(_mm256_xor_si256(x, y)));
    }
    const size_t done = vectors * 4;
    bk_pair_counts tail = pair_counts_words(a + done, b + done, word_count - done);
    bk_pair_counts c;
    c.and_count = bk_avx2_hsum_epi64(and_total) + tail.and_count;
    c.xor_count = bk_avx2_hsum_epi64(xor_total) + tail.xor_count;
    c.or_count = c.and_count + c.xor_count;
    return c;
}
BK_UNTARGET

BK_TARGET_AVX512
bk_pair_counts bk_pair_counts_avx512(const uint64_t *a, const uint64_t *b, size_t word_count) {
    /* Unmasked main loop with two accumulators per count; one masked step for the tail. */
    __m512i and0 = _mm512_setzero_si512(), xor0 = _mm512_setzero_si512();
    __m512i and1 = _mm512_setzero_si512(), xor1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 16 <= word_count; i += 16) {
        const __m512i x0 = _mm512_loadu_si512(a + i), y0 = _mm512_loadu_si512(b + i);
        const __m512i x1 = _mm512_loadu_si512(a + i + 8), y1 = _mm512_loadu_si512(b + i + 8);
        and0 = _mm512_add_epi64(and0, _mm512_popcnt_epi64(_mm512_and_si512(x0, y0)));
        xor0 = _mm512_add_epi64(xor0, _mm512_popcnt_epi64(_mm512_xor_si512(x0, y0)));
        and1 = _mm512_add_epi64(and1, _mm512_popcnt_epi64(_mm512_and_si512(x1, y1)));
        xor1 = _mm512_add_epi64(xor1, _mm512_popcnt_epi64(_mm512_xor_si512(x1, y1)));
    }
    for (; i < word_count; i += 8) {
        const size_t n = word_count - i < 8 ? word_count - i : 8;
        const __mmask8 m = (__mmask8)((1u << n) - 1);
        const __m512i x = _mm512_maskz_loadu_epi64(m, a + i), y = _mm512_maskz_loadu_epi64(m, b + i);
        and0 = _mm512_add_epi64(and0, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
        xor0 = _mm512_add_epi64(xor0, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
    }
    bk_pair_counts c;
    c.and_count = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(and0, and1));
    c.xor_count = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(xor0, xor1));
    c.or_count = c.and_count + c.xor_count;
    return c;
}
BK_UNTARGET
#else
bk_pair_counts bk_pair_counts_popcnt_loop(const uint64_t *a, const uint64_t *b, size_t word_count) {
    return pair_counts_words(a, b, word_count);
}
#endif

#if BK_AARCH64
bk_pair_counts bk_pair_counts_neon(const uint64_t *a, const uint64_t *b, size_t word_count) {
    uint64x2_t and_total = vdupq_n_u64(0), xor_total = vdupq_n_u64(0);
    size_t i = 0;
    for (; i + 4 <= word_count; i += 4) {
        const uint8x16_t x0 = vreinterpretq_u8_u64(vld1q_u64(a + i));
        const uint8x16_t x1 = vreinterpretq_u8_u64(vld1q_u64(a + i + 2));
        const uint8x16_t y0 = vreinterpretq_u8_u64(vld1q_u64(b + i));
        const uint8x16_t y1 = vreinterpretq_u8_u64(vld1q_u64(b + i + 2));
        const uint8x16_t ca = vaddq_u8(vcntq_u8(vandq_u8(x0, y0)), vcntq_u8(vandq_u8(x1, y1)));
        const uint8x16_t cx = vaddq_u8(vcntq_u8(veorq_u8(x0, y0)), vcntq_u8(veorq_u8(x1, y1)));
        and_total = vpadalq_u32(and_total, vpaddlq_u16(vpaddlq_u8(ca)));
        xor_total = vpadalq_u32(xor_total, vpaddlq_u16(vpaddlq_u8(cx)));
    }
    bk_pair_counts tail = pair_counts_words(a + i, b + i, word_count - i);
    bk_pair_counts c;
    c.and_count = vaddvq_u64(and_total) + tail.and_count;
    c.xor_count = vaddvq_u64(xor_total) + tail.xor_count;
    c.or_count = c.and_count + c.xor_count;
    return c;
}
#endif
