/* flip.c — masked bit-flip learning and the random masks that drive it.
 *
 * Learning copies a target's bits into the current pattern where a mask is set:
 *   cur = cur XOR ((target XOR cur) AND mask)
 * Random masks are Bernoulli(p) bits with p quantized to threshold / 65536. Each output word is
 * built from uniform random words r_1.. by walking p's binary digits from the least significant
 * set one upward: x = digit ? (x OR r) : (x AND r). After digit j the probability of a set bit is
 * (p_j + digit) / 2, so the result has exactly P(bit) = threshold / 65536, at a cost of at most
 * 16 random words per output word (1 for p = 1/2).
 *
 * The random words come from four xoshiro256** streams (Blackman & Vigna), output word i drawing
 * from stream i mod 4. Scalar and SIMD variants therefore produce identical bits for one seed.
 * Words are produced in groups of four; a final partial group still advances all four streams. */
#include "bk_simd.h"


/* ---- masked flip ---------------------------------------------------------------------------- */

BK_INLINE void masked_flip_words(uint64_t *cur, const uint64_t *target, const uint64_t *mask,
                                 size_t word_count) {
    for (size_t i = 0; i < word_count; i++) cur[i] ^= (target[i] ^ cur[i]) & mask[i];
}

void bk_masked_flip_scalar(uint64_t *cur, const uint64_t *target, const uint64_t *mask,
                           size_t word_count) {
    masked_flip_words(cur, target, mask, word_count);
}

/* ---- random bits ---------------------------------------------------------------------------- */

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The lowest set bit of the threshold's 16 fractional digits: where the digit walk starts. */
static inline int first_digit(uint32_t threshold) { return __builtin_ctz(threshold); }

BK_INLINE uint64_t xoshiro_next(bk_rng *rng, int lane) {
    uint64_t *s0 = &rng->s[0][lane], *s1 = &rng->s[1][lane], *s2 = &rng->s[2][lane],
             *s3 = &rng->s[3][lane];
    const uint64_t result = rotl64(*s1 * 5, 7) * 9;
    const uint64_t t = *s1 << 17;
    *s2 ^= *s0;
    *s3 ^= *s1;
    *s1 ^= *s2;
    *s0 ^= *s3;
    *s2 ^= t;
    *s3 = rotl64(*s3, 45);
    return result;
}

/* Handles the thresholds that need no random words; returns true when it filled `out`. */
static inline bool random_bits_constant(uint64_t *out, size_t word_count, uint32_t threshold) {
    if (threshold != 0 && threshold < 65536) return false;
    const uint64_t fill = threshold == 0 ? 0 : ~0ull;
    for (size_t i = 0; i < word_count; i++) out[i] = fill;
    return true;
}

void bk_random_bits_scalar(bk_rng *rng, uint64_t *out, size_t word_count, uint32_t threshold) {
    if (random_bits_constant(out, word_count, threshold)) return;
    for (size_t base = 0; base < word_count; base += 4) {
        uint64_t x[4] = {0, 0, 0, 0};
        for (int digit = first_digit(threshold); digit < 16; digit++) {
            const bool set = (threshold >> digit) & 1;
            for (int lane = 0; lane < 4; lane++) {
                const uint64_t r = xoshiro_next(rng, lane);
                x[lane] = set ? (x[lane] | r) : (x[lane] & r);
            }
        }
        for (int lane = 0; lane < 4 && base + lane < word_count; lane++) out[base + lane] = x[lane];
    }
}

#if BK_X86
BK_TARGET_AVX2
void bk_masked_flip_avx2(uint64_t *cur, const uint64_t *target, const uint64_t *mask,
                         size_t word_count) {
    size_t i = 0;
    for (; i + 4 <= word_count; i += 4) {
        const __m256i c = _mm256_loadu_si256((const __m256i *)(cur + i));
        const __m256i t = _mm256_loadu_si256((const __m256i *)(target + i));
        const __m256i m = _mm256_loadu_si256((const __m256i *)(mask + i));
        _mm256_storeu_si256((__m256i *)(cur + i),
                            _mm256_xor_si256(c, _mm256_and_si256(_mm256_xor_si256(t, c), m)));
    }
    masked_flip_words(cur + i, target + i, mask + i, word_count - i);
}

BK_INLINE __m256i rotl_avx2(__m256i x, int k) {
    return _mm256_or_si256(_mm256_slli_epi64(x, k), _mm256_srli_epi64(x, 64 - k));
}

/* The four streams live in the four 64-bit lanes; ×5 and ×9 are shift-and-add (AVX2 has no
 * 64-bit multiply). Inlined into the AVX-512 variant too, where the compiler can use VPROLQ. */
BK_INLINE void random_bits_ymm(bk_rng *rng, uint64_t *out, size_t word_count, uint32_t threshold) {
    if (random_bits_constant(out, word_count, threshold)) return;
    __m256i s0 = _mm256_loadu_si256((const __m256i *)rng->s[0]);
    __m256i s1 = _mm256_loadu_si256((const __m256i *)rng->s[1]);
    __m256i s2 = _mm256_loadu_si256((const __m256i *)rng->s[2]);
    __m256i s3 = _mm256_loadu_si256((const __m256i *)rng->s[3]);
    const int start = first_digit(threshold);
    for (size_t base = 0; base < word_count; base += 4) {
        __m256i x = _mm256_setzero_si256();
        for (int digit = start; digit < 16; digit++) {
            const __m256i times5 = _mm256_add_epi64(_mm256_slli_epi64(s1, 2), s1);
            const __m256i rot = rotl_avx2(times5, 7);
            const __m256i r = _mm256_add_epi64(_mm256_slli_epi64(rot, 3), rot);
            const __m256i t = _mm256_slli_epi64(s1, 17);
            s2 = _mm256_xor_si256(s2, s0);
            s3 = _mm256_xor_si256(s3, s1);
            s1 = _mm256_xor_si256(s1, s2);
            s0 = _mm256_xor_si256(s0, s3);
            s2 = _mm256_xor_si256(s2, t);
            s3 = rotl_avx2(s3, 45);
            x = ((threshold >> digit) & 1) ? _mm256_or_si256(x, r) : _mm256_and_si256(x, r);
        }
        if (base + 4 <= word_count) {
            _mm256_storeu_si256((__m256i *)(out + base), x);
        } else {
            _mm256_maskstore_epi64((long long *)(out + base), bk_avx2_tail_mask(word_count - base), x);
        }
    }
    _mm256_storeu_si256((__m256i *)rng->s[0], s0);
    _mm256_storeu_si256((__m256i *)rng->s[1], s1);
    _mm256_storeu_si256((__m256i *)rng->s[2], s2);
    _mm256_storeu_si256((__m256i *)rng->s[3], s3);
}

void bk_random_bits_avx2(bk_rng *rng, uint64_t *out, size_t word_count, uint32_t threshold) {
    random_bits_ymm(rng, out, word_count, threshold);
}
BK_UNTARGET

BK_TARGET_AVX512
void bk_masked_flip_avx512(uint64_t *cur, const uint64_t *target, const uint64_t *mask,
                           size_t word_count) {
    for (size_t i = 0; i < word_count; i += 8) {
        const size_t n = word_count - i < 8 ? word_count - i : 8;
        const __mmask8 k = (__mmask8)((1u << n) - 1);
        const __m512i c = _mm512_maskz_loadu_epi64(k, cur + i);
        const __m512i t = _mm512_maskz_loadu_epi64(k, target + i);
        const __m512i m = _mm512_maskz_loadu_epi64(k, mask + i);
        /* Truth table 0xd8 selects t where m is set, else c: the whole flip in one instruction. */
        _mm512_mask_storeu_epi64(cur + i, k, _mm512_ternarylogic_epi64(c, t, m, 0xd8));
    }
}

/* The AVX2 body (four streams in 256-bit lanes) compiled for AVX-512VL. */
void bk_random_bits_avx512(bk_rng *rng, uint64_t *out, size_t word_count, uint32_t threshold) {
    random_bits_ymm(rng, out, word_count, threshold);
}
BK_UNTARGET
#endif

#if BK_AARCH64
void bk_masked_flip_neon(uint64_t *cur, const uint64_t *target, const uint64_t *mask,
                         size_t word_count) {
    size_t i = 0;
    for (; i + 2 <= word_count; i += 2) {
        const uint64x2_t c = vld1q_u64(cur + i), t = vld1q_u64(target + i), m = vld1q_u64(mask + i);
        vst1q_u64(cur + i, vbslq_u64(m, t, c)); /* bit select: t where m, else c */
    }
    masked_flip_words(cur + i, target + i, mask + i, word_count - i);
}

/* Shift counts must be immediates for NEON, hence a macro. */
#define ROTL_NEON(x, k) vorrq_u64(vshlq_n_u64((x), (k)), vshrq_n_u64((x), 64 - (k)))

/* Streams 0–1 in one register pair and 2–3 in the other: the AVX2 structure on 128-bit lanes. */
void bk_random_bits_neon(bk_rng *rng, uint64_t *out, size_t word_count, uint32_t threshold) {
    if (random_bits_constant(out, word_count, threshold)) return;
    uint64x2_t s[4][2];
    for (int w = 0; w < 4; w++) {
        s[w][0] = vld1q_u64(&rng->s[w][0]);
        s[w][1] = vld1q_u64(&rng->s[w][2]);
    }
    const int start = first_digit(threshold);
    for (size_t base = 0; base < word_count; base += 4) {
        uint64x2_t x[2] = {vdupq_n_u64(0), vdupq_n_u64(0)};
        for (int digit = start; digit < 16; digit++) {
            const bool set = (threshold >> digit) & 1;
            for (int h = 0; h < 2; h++) {
                const uint64x2_t times5 = vaddq_u64(vshlq_n_u64(s[1][h], 2), s[1][h]);
                const uint64x2_t rot = ROTL_NEON(times5, 7);
                const uint64x2_t r = vaddq_u64(vshlq_n_u64(rot, 3), rot);
                const uint64x2_t t = vshlq_n_u64(s[1][h], 17);
                s[2][h] = veorq_u64(s[2][h], s[0][h]);
                s[3][h] = veorq_u64(s[3][h], s[1][h]);
                s[1][h] = veorq_u64(s[1][h], s[2][h]);
                s[0][h] = veorq_u64(s[0][h], s[3][h]);
                s[2][h] = veorq_u64(s[2][h], t);
                s[3][h] = ROTL_NEON(s[3][h], 45);
                x[h] = set ? vorrq_u64(x[h], r) : vandq_u64(x[h], r);
            }
        }
        uint64_t words[4];
        vst1q_u64(words, x[0]);
        vst1q_u64(words + 2, x[1]);
        for (int lane = 0; lane < 4 && base + lane < word_count; lane++) out[base + lane] = words[lane];
    }
    for (int w = 0; w < 4; w++) {
        vst1q_u64(&rng->s[w][0], s[w][0]);
        vst1q_u64(&rng->s[w][2], s[w][1]);
    }
}
#endif

/* ---- seeding and whole masks ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bk_rng_seed(bk_rng *rng, uint64_t seed) {
    uint64_t state = seed;
    for (int lane = 0; lane < 4; lane++)
        for (int w = 0; w < 4; w++) rng->s[w][lane] = splitmix64(&state);
}

uint32_t bk_density_threshold(double p) {
    if (!(p > 0)) return 0; /* also NaN */
    if (p >= 1) return 65536;
    return (uint32_t)(p * 65536.0 + 0.5); /* round half up; p < 1 here so no overflow */
}

void bk_random_mask(const bk_kernels *k, bk_rng *rng, uint64_t *out, size_t width,
                    uint32_t threshold) {
    const size_t word_count = (width + 63) / 64;
    k->random_bits(rng, out, word_count, threshold);
    if (width % 64) out[word_count - 1] &= (1ull << (width % 64)) - 1;
}
