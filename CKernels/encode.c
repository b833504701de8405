/* encode.c — 8-bit images to bit-vectors for the bit-neuron population: threshold (pixel > level)
 * and rank (exactly k brightest pixels; at the cut-off intensity the lowest pixel indices win).
 *
 * The SIMD variants compare 32/64/16 pixels at a time and turn the comparison into bits with
 * MOVEMASK / mask registers; rank finds its cut-off by a binary search on the intensity, counting
 * pixels >= t with the same comparisons (8 counting passes over the image instead of a
 * 256-bin histogram), and takes the first `quota` pixels equal to the cut-off with PDEP. */
#include "bk_internal.h"

#include <string.h>

/* The specification, pixel by pixel from `from`; the SIMD variants finish their tails with it. */
BK_INLINE void threshold_pixels(const uint8_t *p, size_t from, size_t n, uint8_t level, uint64_t *out) {
    for (size_t i = from; i < n; i++)
        if (p[i] > level) out[i / 64] |= 1ull << (i % 64);
}

/* Pixels brighter than `cut`, and the first *quota of those equal to it. */
BK_INLINE void rank_pixels(const uint8_t *p, size_t from, size_t n, int cut, size_t *quota, uint64_t *out) {
    for (size_t i = from; i < n; i++)
        if (p[i] > cut || (p[i] == cut && *quota > 0)) {
            if (p[i] == cut) (*quota)--;
            out[i / 64] |= 1ull << (i % 64);
        }
}

void bk_encode_threshold_scalar(const uint8_t *p, size_t n, uint8_t level, uint64_t *out) {
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    threshold_pixels(p, 0, n, level, out);
}

void bk_encode_rank_scalar(const uint8_t *p, size_t n, size_t k, uint64_t *out) {
    size_t histogram[256] = {0};
    for (size_t i = 0; i < n; i++) histogram[p[i]]++;
    int cut = 255;
    size_t above = 0;
    while (cut > 0 && above + histogram[cut] < k) above += histogram[cut--];
    size_t quota = k > above ? k - above : 0;
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    rank_pixels(p, 0, n, cut, &quota, out);
}

/* The cut-off every variant must agree on: the largest t with count(p >= t) >= k (0 when even
 * t = 0 is needed), and count(p > t). */
typedef size_t (*count_at_least_fn)(const uint8_t *p, size_t n, unsigned t);

BK_INLINE int find_cut(const uint8_t *p, size_t n, size_t k, count_at_least_fn count, size_t *above) {
    int lo = 0, hi = 255; /* invariant: count(>= lo) >= k or lo == 0; answer in [lo, hi] */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (count(p, n, (unsigned)mid) >= k) lo = mid;
        else hi = mid - 1;
    }
    *above = lo < 255 ? count(p, n, (unsigned)lo + 1) : 0;
    return lo;
}

#if BK_X86
BK_TARGET_AVX2
BK_INLINE uint32_t at_least_mask_avx2(__m256i v, __m256i t) { /* v >= t, unsigned */
    return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(v, t), v));
}

static size_t count_at_least_avx2(const uint8_t *p, size_t n, unsigned t) {
    const __m256i tv = _mm256_set1_epi8((char)t);
    size_t c = 0, i = 0;
    for (; i + 32 <= n; i += 32) c += (size_t)__builtin_popcount(at_least_mask_avx2(_mm256_loadu_si256((const __m256i *)(p + i)), tv));
    for (; i < n; i++) c += p[i] >= t;
    return c;
}

/* Bits of 32 pixels: > cut (none when cut is 255), plus the first *quota of those == cut. */
BK_INLINE uint32_t rank_bits_avx2(__m256i v, __m256i cut, __m256i cut1, bool cut_is_max, size_t *quota) {
    const uint32_t gt = cut_is_max ? 0 : at_least_mask_avx2(v, cut1);
    const uint32_t eq = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, cut));
    const size_t e = (size_t)__builtin_popcount(eq);
    uint32_t take = eq;
    if (e > *quota) take = *quota ? (uint32_t)_pdep_u32((uint32_t)((1ull << *quota) - 1), eq) : 0;
    *quota -= (size_t)__builtin_popcount(take);
    return gt | take;
}

void bk_encode_threshold_avx2(const uint8_t *p, size_t n, uint8_t level, uint64_t *out) {
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    if (level == 255) return;
    const __m256i t = _mm256_set1_epi8((char)(level + 1));
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        out[i / 64] |= (uint64_t)at_least_mask_avx2(_mm256_loadu_si256((const __m256i *)(p + i)), t) << (i % 64);
    threshold_pixels(p, i, n, level, out);
}

void bk_encode_rank_avx2(const uint8_t *p, size_t n, size_t k, uint64_t *out) {
    size_t above;
    const int cut = find_cut(p, n, k, count_at_least_avx2, &above);
    size_t quota = k > above ? k - above : 0;
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    const __m256i cv = _mm256_set1_epi8((char)cut), cv1 = _mm256_set1_epi8((char)(cut + 1));
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        out[i / 64] |= (uint64_t)rank_bits_avx2(_mm256_loadu_si256((const __m256i *)(p + i)), cv, cv1, cut == 255, &quota)
                       << (i % 64);
    rank_pixels(p, i, n, cut, &quota, out);
}
BK_UNTARGET

BK_TARGET_AVX512
static size_t count_at_least_avx512(const uint8_t *p, size_t n, unsigned t) {
    const __m512i tv = _mm512_set1_epi8((char)t);
    size_t c = 0, i = 0;
    for (; i + 64 <= n; i += 64) c += (size_t)__builtin_popcountll(_mm512_cmpge_epu8_mask(_mm512_loadu_si512(p + i), tv));
    if (i < n) {
        const __mmask64 m = (n - i == 64) ? ~0ull : ((1ull << (n - i)) - 1);
        c += (size_t)__builtin_popcountll(_mm512_mask_cmpge_epu8_mask(m, _mm512_maskz_loadu_epi8(m, p + i), tv));
    }
    return c;
}

/* 64 pixels are one output word: the comparison masks are the bits. */
void bk_encode_threshold_avx512(const uint8_t *p, size_t n, uint8_t level, uint64_t *out) {
    const __m512i t = _mm512_set1_epi8((char)level);
    for (size_t i = 0; i < n; i += 64) {
        const __mmask64 m = (n - i >= 64) ? ~0ull : ((1ull << (n - i)) - 1);
        out[i / 64] = _mm512_mask_cmpgt_epu8_mask(m, _mm512_maskz_loadu_epi8(m, p + i), t);
    }
}

void bk_encode_rank_avx512(const uint8_t *p, size_t n, size_t k, uint64_t *out) {
    size_t above;
    const int cut = find_cut(p, n, k, count_at_least_avx512, &above);
    size_t quota = k > above ? k - above : 0;
    const __m512i cv = _mm512_set1_epi8((char)cut);
    for (size_t i = 0; i < n; i += 64) {
        const __mmask64 m = (n - i >= 64) ? ~0ull : ((1ull << (n - i)) - 1);
        const __m512i v = _mm512_maskz_loadu_epi8(m, p + i);
        const uint64_t gt = _mm512_mask_cmpgt_epu8_mask(m, v, cv);
        const uint64_t eq = _mm512_mask_cmpeq_epu8_mask(m, v, cv);
        const size_t e = (size_t)__builtin_popcountll(eq);
        const uint64_t take = e > quota ? (quota ? _pdep_u64((1ull << quota) - 1, eq) : 0) : eq;
        quota -= (size_t)__builtin_popcountll(take);
        out[i / 64] = gt | take;
    }
}
BK_UNTARGET
#endif

#if BK_AARCH64
/* 16 comparison bytes (0 or 0xff) to 16 bits. */
BK_INLINE uint32_t movemask_neon(uint8x16_t m) {
    static const uint8_t weights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t b = vandq_u8(m, vld1q_u8(weights));
    return (uint32_t)vaddv_u8(vget_low_u8(b)) | (uint32_t)vaddv_u8(vget_high_u8(b)) << 8;
}

static size_t count_at_least_neon(const uint8_t *p, size_t n, unsigned t) {
    const uint8x16_t tv = vdupq_n_u8((uint8_t)t);
    size_t c = 0, i = 0;
    for (; i + 16 <= n; i += 16) c += vaddvq_u8(vshrq_n_u8(vcgeq_u8(vld1q_u8(p + i), tv), 7));
    for (; i < n; i++) c += p[i] >= t;
    return c;
}

void bk_encode_threshold_neon(const uint8_t *p, size_t n, uint8_t level, uint64_t *out) {
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    const uint8x16_t t = vdupq_n_u8(level);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) out[i / 64] |= (uint64_t)movemask_neon(vcgtq_u8(vld1q_u8(p + i), t)) << (i % 64);
    threshold_pixels(p, i, n, level, out);
}

void bk_encode_rank_neon(const uint8_t *p, size_t n, size_t k, uint64_t *out) {
    size_t above;
    const int cut = find_cut(p, n, k, count_at_least_neon, &above);
    size_t quota = k > above ? k - above : 0;
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    const uint8x16_t cv = vdupq_n_u8((uint8_t)cut);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint8x16_t v = vld1q_u8(p + i);
        const uint32_t gt = movemask_neon(vcgtq_u8(v, cv));
        uint32_t eq = movemask_neon(vceqq_u8(v, cv)), take = 0;
        while (eq && quota) { /* lowest indices first */
            take |= eq & -eq;
            eq &= eq - 1;
            quota--;
        }
        out[i / 64] |= (uint64_t)(gt | take) << (i % 64);
    }
    rank_pixels(p, i, n, cut, &quota, out);
}
#endif
