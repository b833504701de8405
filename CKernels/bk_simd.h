/* bk_simd.h — small SIMD building blocks shared by the kernel families. Each helper carries its
 * own target attribute so it can be inlined only into variants of the same ISA. */
#ifndef BK_SIMD_H
#define BK_SIMD_H
#include "bk_internal.h"

#if BK_X86
#define BK_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,bmi2,popcnt,fma")))

/* Per-byte popcount of a 256-bit vector: two 16-entry nibble lookups (Muła's method). */
BK_AVX2_INLINE __m256i bk_avx2_popcount_bytes(__m256i v) {
    const __m256i lookup = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                            2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low_nibble = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(v, low_nibble);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low_nibble);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lookup, lo), _mm256_shuffle_epi8(lookup, hi));
}

/* Popcount of each 64-bit lane. */
BK_AVX2_INLINE __m256i bk_avx2_popcount_epi64(__m256i v) {
    return _mm256_sad_epu8(bk_avx2_popcount_bytes(v), _mm256_setzero_si256());
}

BK_AVX2_INLINE uint64_t bk_avx2_hsum_epi64(__m256i v) {
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

BK_AVX2_INLINE int32_t bk_avx2_hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1)));
}

/* Carry-save adder: adds three bit-planes, giving sum (l) and carry (h) planes. */
BK_AVX2_INLINE void bk_avx2_csa(__m256i *h, __m256i *l, __m256i a, __m256i b, __m256i c) {
    const __m256i u = _mm256_xor_si256(a, b);
    *h = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c));
    *l = _mm256_xor_si256(u, c);
}

/* A mask selecting the first n (0..4) 64-bit lanes, for vpmaskmovq tails (no read past the end). */
BK_AVX2_INLINE __m256i bk_avx2_tail_mask(size_t n) {
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n), lane);
}
#endif

#endif
