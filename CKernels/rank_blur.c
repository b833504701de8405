/* rank_blur.c — rank encoding whose ties follow the image (the `blur` tie rule): exactly k bits,
 * the k brightest pixels; among pixels equal to the cut-off intensity those with the brightest
 * 3 × 3 neighbourhood (box sum, edges clipped) win, and among equal sums the lowest index.
 * In a sparse image (cut-off 0) the leftover bits so thicken the image's own strokes instead of
 * filling the top-left corner.
 *
 * Every variant writes a key per pixel into the caller's scratch (n uint16): 0 for pixels off the
 * cut-off, 1 + the neighbourhood sum for pixels on it (at most 1 + 9 · 255 = 2296). The scalar
 * reference counts the keys in a histogram; the AVX2 and AVX-512 variants build the keys 16 / 32
 * pixels at a time from three rolling row sums and find the key cut-off by a binary search of
 * counting passes (12 over the keys instead of a 2,297-bin scatter). */
#include "bk_internal.h"

#include <string.h>

#define BK_BLUR_KEYS (9 * 255 + 2) /* keys 0 (not tied) ... 2296 */

/* The intensity cut-off: the largest c with count(p >= c) >= k (0 when even c = 0 is needed), and
 * count(p > c). */
static int intensity_cut(const uint8_t *p, size_t n, size_t k, size_t *above) {
    size_t histogram[256] = {0};
    for (size_t i = 0; i < n; i++) histogram[p[i]]++;
    int cut = 255;
    *above = 0;
    while (cut > 0 && *above + histogram[cut] < k) *above += histogram[cut--];
    return cut;
}

/* The specification: pixel by pixel, the key histogram walked down from the top. */
void bk_encode_rank_blur_scalar(const uint8_t *p, size_t rows, size_t cols, size_t k, uint16_t *key,
                                uint64_t *out) {
    const size_t n = rows * cols;
    size_t above;
    const int cut = intensity_cut(p, n, k, &above);
    size_t quota = k > above ? k - above : 0;
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (p[i] > cut) out[i / 64] |= 1ull << (i % 64);
    if (quota == 0) return;
    size_t counts[BK_BLUR_KEYS] = {0};
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            const size_t i = r * cols + c;
            key[i] = 0;
            if (p[i] != cut) continue;
            unsigned s = 0;
            for (size_t rr = r ? r - 1 : 0; rr <= r + 1 && rr < rows; rr++)
                for (size_t cc = c ? c - 1 : 0; cc <= c + 1 && cc < cols; cc++) s += p[rr * cols + cc];
            key[i] = (uint16_t)(s + 1);
            counts[s + 1]++;
        }
    size_t kcut = BK_BLUR_KEYS - 1, taken = 0;
    while (taken + counts[kcut] < quota) taken += counts[kcut--];
    size_t at_cut = quota - taken;
    for (size_t i = 0; i < n; i++)
        if (key[i] > kcut || (key[i] == kcut && at_cut > 0)) {
            if (key[i] == kcut) at_cut--;
            out[i / 64] |= 1ull << (i % 64);
        }
}

#if BK_X86
BK_TARGET_AVX2
static size_t count_at_least_u8_avx2(const uint8_t *p, size_t n, unsigned t) {
    const __m256i tv = _mm256_set1_epi8((char)t);
    size_t c = 0, i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(p + i));
        c += (size_t)__builtin_popcount((uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(v, tv), v)));
    }
    for (; i < n; i++) c += p[i] >= t;
    return c;
}

/* Keys are at most 2296, so signed 16-bit comparisons order them (AVX2 has no unsigned ones). */
static size_t count_keys_at_least_avx2(const uint16_t *key, size_t n, unsigned t) {
    const __m256i tv = _mm256_set1_epi16((short)(t - 1));
    size_t c = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i k = _mm256_loadu_si256((const __m256i *)(key + i));
        c += (size_t)__builtin_popcount((uint32_t)_mm256_movemask_epi8(_mm256_cmpgt_epi16(k, tv))) / 2;
    }
    for (; i < n; i++) c += key[i] >= t;
    return c;
}

/* Horizontal 3-sums of up to 16 pixels of a row from column j: the pixels with one neighbour on
 * each side are copied into a zero-padded window first, so no load leaves the row. */
BK_INLINE __m256i row_sums_avx2(const uint8_t *row, size_t j, size_t lanes, size_t cols) {
    uint8_t w[32] = {0};
    w[0] = j > 0 ? row[j - 1] : 0;
    memcpy(w + 1, row + j, lanes);
    if (j + lanes < cols) w[lanes + 1] = row[j + lanes];
    const __m256i l = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)w));
    const __m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + 1)));
    const __m256i r = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + 2)));
    return _mm256_add_epi16(c, _mm256_add_epi16(l, r));
}

/* 32 comparison results of 16-bit lanes (a: lanes 0-15, b: 16-31) as 32 bits in lane order. */
BK_INLINE uint32_t mask16x2(__m256i a, __m256i b) {
    return (uint32_t)_mm256_movemask_epi8(_mm256_permute4x64_epi64(_mm256_packs_epi16(a, b), 0xD8));
}

void bk_encode_rank_blur_avx2(const uint8_t *p, size_t rows, size_t cols, size_t k, uint16_t *key,
                              uint64_t *out) {
    const size_t n = rows * cols;
    int lo8 = 0, hi8 = 255;
    while (lo8 < hi8) {
        const int mid = (lo8 + hi8 + 1) / 2;
        if (count_at_least_u8_avx2(p, n, (unsigned)mid) >= k) lo8 = mid;
        else hi8 = mid - 1;
    }
    const int cut = lo8;
    const size_t above = cut < 255 ? count_at_least_u8_avx2(p, n, (unsigned)cut + 1) : 0;
    const size_t quota = k > above ? k - above : 0;
    memset(out, 0, (n + 63) / 64 * sizeof *out);
    if (quota == 0 || quota == count_at_least_u8_avx2(p, n, (unsigned)cut) - above) {
        const unsigned from = quota ? (unsigned)cut : (unsigned)cut + 1; /* >= cut or > cut */
        if (from <= 255) {
            const __m256i tv = _mm256_set1_epi8((char)from);
            size_t i = 0;
            for (; i + 32 <= n; i += 32) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(p + i));
                out[i / 64] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(v, tv), v)) << (i % 64);
            }
            for (; i < n; i++)
                if (p[i] >= from) out[i / 64] |= 1ull << (i % 64);
        }
        return;
    }
    const __m256i cv16 = _mm256_set1_epi16((short)cut), one = _mm256_set1_epi16(1);
    for (size_t j = 0; j < cols; j += 16) {
        const size_t lanes = cols - j < 16 ? cols - j : 16;
        __m256i prev = _mm256_setzero_si256(), cur = row_sums_avx2(p, j, lanes, cols);
        for (size_t r = 0; r < rows; r++) {
            const __m256i next = r + 1 < rows ? row_sums_avx2(p + (r + 1) * cols, j, lanes, cols) : _mm256_setzero_si256();
            const uint8_t *row = p + r * cols;
            uint8_t w[16] = {0};
            memcpy(w, row + j, lanes);
            const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)w));
            const __m256i sum = _mm256_add_epi16(prev, _mm256_add_epi16(cur, next));
            const __m256i k16 = _mm256_and_si256(_mm256_cmpeq_epi16(v, cv16), _mm256_add_epi16(sum, one));
            uint16_t kk[16];
            _mm256_storeu_si256((__m256i *)kk, k16);
            memcpy(key + r * cols + j, kk, lanes * sizeof *kk);
            prev = cur;
            cur = next;
        }
    }
    unsigned lo = 1, hi = BK_BLUR_KEYS - 1;
    while (lo < hi) {
        const unsigned mid = (lo + hi + 1) / 2;
        if (count_keys_at_least_avx2(key, n, mid) >= quota) lo = mid;
        else hi = mid - 1;
    }
    size_t at_cut = quota - (lo < BK_BLUR_KEYS - 1 ? count_keys_at_least_avx2(key, n, lo + 1) : 0);
    const __m256i kv = _mm256_set1_epi16((short)lo), c8 = _mm256_set1_epi8((char)(cut + 1));
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(p + i));
        const uint32_t gt = cut == 255 ? 0 : (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(v, c8), v));
        const __m256i k0 = _mm256_loadu_si256((const __m256i *)(key + i)), k1 = _mm256_loadu_si256((const __m256i *)(key + i + 16));
        const uint32_t sel = mask16x2(_mm256_cmpgt_epi16(k0, kv), _mm256_cmpgt_epi16(k1, kv));
        const uint32_t eq = mask16x2(_mm256_cmpeq_epi16(k0, kv), _mm256_cmpeq_epi16(k1, kv));
        const size_t e = (size_t)__builtin_popcount(eq);
        const uint32_t take = e > at_cut ? (at_cut ? (uint32_t)_pdep_u32((uint32_t)((1ull << at_cut) - 1), eq) : 0) : eq;
        at_cut -= (size_t)__builtin_popcount(take);
        out[i / 64] |= (uint64_t)(gt | sel | take) << (i % 64);
    }
    for (; i < n; i++)
        if (p[i] > cut || key[i] > lo || (key[i] == lo && at_cut > 0)) {
            if (p[i] <= cut && key[i] == lo) at_cut--;
            out[i / 64] |= 1ull << (i % 64);
        }
}
BK_UNTARGET

BK_TARGET_AVX512
static size_t count_at_least_u8(const uint8_t *p, size_t n, unsigned t) {
    const __m512i tv = _mm512_set1_epi8((char)t);
    size_t c = 0;
    for (size_t i = 0; i < n; i += 64) {
        const __mmask64 m = (n - i >= 64) ? ~0ull : ((1ull << (n - i)) - 1);
        c += (size_t)__builtin_popcountll(_mm512_mask_cmpge_epu8_mask(m, _mm512_maskz_loadu_epi8(m, p + i), tv));
    }
    return c;
}

static size_t count_keys_at_least(const uint16_t *key, size_t n, unsigned t) {
    const __m512i tv = _mm512_set1_epi16((short)t);
    size_t c = 0;
    for (size_t i = 0; i < n; i += 32) {
        const __mmask32 m = (n - i >= 32) ? ~0u : ((1u << (n - i)) - 1);
        c += (size_t)__builtin_popcount(_mm512_mask_cmpge_epu16_mask(m, _mm512_maskz_loadu_epi16(m, key + i), tv));
    }
    return c;
}

/* The horizontal 3-sum of `lanes` pixels of one row from column j (32 at most), as 16-bit lanes.
 * Neighbours come from the row itself (a lane shift) plus one pixel on each side when the row goes
 * on: no load leaves the row. */
BK_INLINE __m512i row_sums(const uint8_t *row, size_t j, size_t lanes, size_t cols) {
    const __mmask32 m = lanes == 32 ? ~0u : ((1u << lanes) - 1);
    const __m512i c = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, row + j));
    const __m512i down = _mm512_set_epi16(30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13,
                                          12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0);
    const __m512i up = _mm512_set_epi16(31, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14,
                                        13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    __m512i left = _mm512_maskz_permutexvar_epi16(~1u, down, c);         /* lane l: c[l - 1] */
    if (j > 0) left = _mm512_mask_set1_epi16(left, 1, row[j - 1]);
    __m512i right = _mm512_maskz_permutexvar_epi16(m >> 1, up, c);       /* lane l: c[l + 1] */
    if (j + lanes < cols) right = _mm512_mask_set1_epi16(right, (__mmask32)(1u << (lanes - 1)), row[j + lanes]);
    return _mm512_add_epi16(c, _mm512_add_epi16(left, right));
}

void bk_encode_rank_blur_avx512(const uint8_t *p, size_t rows, size_t cols, size_t k, uint16_t *key,
                                uint64_t *out) {
    const size_t n = rows * cols;
    size_t above = 0;
    int cut = 255; /* the cut-off as the scalar reference finds it (binary search, as encode.c) */
    {
        int lo = 0, hi = 255;
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if (count_at_least_u8(p, n, (unsigned)mid) >= k) lo = mid;
            else hi = mid - 1;
        }
        cut = lo;
        above = lo < 255 ? count_at_least_u8(p, n, (unsigned)lo + 1) : 0;
    }
    const size_t quota = k > above ? k - above : 0;
    const __m512i cv = _mm512_set1_epi8((char)cut);
    if (quota == 0 || quota == count_at_least_u8(p, n, (unsigned)cut) - above) {
        /* No tie to break: > cut, or >= cut when every tied pixel is taken. */
        for (size_t i = 0; i < n; i += 64) {
            const __mmask64 m = (n - i >= 64) ? ~0ull : ((1ull << (n - i)) - 1);
            const __m512i v = _mm512_maskz_loadu_epi8(m, p + i);
            out[i / 64] = quota ? _mm512_mask_cmpge_epu8_mask(m, v, cv) : _mm512_mask_cmpgt_epu8_mask(m, v, cv);
        }
        return;
    }
    /* Keys, a column strip of up to 32 at a time, rows rolling: the 3 × 3 sum is the row sums of
     * the row above, the row and the row below. */
    const __m256i cv32 = _mm256_set1_epi8((char)cut);
    const __m512i one = _mm512_set1_epi16(1);
    for (size_t j = 0; j < cols; j += 32) {
        const size_t lanes = cols - j < 32 ? cols - j : 32;
        const __mmask32 m = lanes == 32 ? ~0u : ((1u << lanes) - 1);
        __m512i prev = _mm512_setzero_si512(), cur = row_sums(p, j, lanes, cols);
        for (size_t r = 0; r < rows; r++) {
            const __m512i next = r + 1 < rows ? row_sums(p + (r + 1) * cols, j, lanes, cols) : _mm512_setzero_si512();
            const uint8_t *row = p + r * cols;
            const __mmask32 tied = _mm256_mask_cmpeq_epu8_mask(m, _mm256_maskz_loadu_epi8(m, row + j), cv32);
            const __m512i sum = _mm512_add_epi16(prev, _mm512_add_epi16(cur, next));
            _mm512_mask_storeu_epi16(key + r * cols + j, m, _mm512_maskz_add_epi16(tied, sum, one));
            prev = cur;
            cur = next;
        }
    }
    /* The key cut-off: the largest t with count(key >= t) >= quota (t >= 1: only tied pixels). */
    unsigned lo = 1, hi = BK_BLUR_KEYS - 1;
    while (lo < hi) {
        const unsigned mid = (lo + hi + 1) / 2;
        if (count_keys_at_least(key, n, mid) >= quota) lo = mid;
        else hi = mid - 1;
    }
    size_t at_cut = quota - (lo < BK_BLUR_KEYS - 1 ? count_keys_at_least(key, n, lo + 1) : 0);
    const __m512i kv = _mm512_set1_epi16((short)lo);
    for (size_t i = 0; i < n; i += 64) {
        const __mmask64 m = (n - i >= 64) ? ~0ull : ((1ull << (n - i)) - 1);
        const __mmask32 m0 = (__mmask32)m, m1 = (__mmask32)(m >> 32);
        const __m512i k0 = _mm512_maskz_loadu_epi16(m0, key + i), k1 = _mm512_maskz_loadu_epi16(m1, key + i + 32);
        const uint64_t gt = _mm512_mask_cmpgt_epu8_mask(m, _mm512_maskz_loadu_epi8(m, p + i), cv);
        const uint64_t sel = (uint64_t)_mm512_mask_cmpgt_epu16_mask(m0, k0, kv) |
                             (uint64_t)_mm512_mask_cmpgt_epu16_mask(m1, k1, kv) << 32;
        const uint64_t eq = (uint64_t)_mm512_mask_cmpeq_epu16_mask(m0, k0, kv) |
                            (uint64_t)_mm512_mask_cmpeq_epu16_mask(m1, k1, kv) << 32;
        const size_t e = (size_t)__builtin_popcountll(eq);
        const uint64_t take = e > at_cut ? (at_cut ? _pdep_u64((1ull << at_cut) - 1, eq) : 0) : eq;
        at_cut -= (size_t)__builtin_popcountll(take);
        out[i / 64] = gt | sel | take;
    }
}
BK_UNTARGET
#endif
