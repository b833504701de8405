/* quantize.c — BitNet b1.58 quantizers: absmax int8 activations per token (run on every token,
 * so with SIMD variants) and absmean ternary weights (run once at load time, scalar).
 *
 * Every activation variant computes the scale the same way (an exact max, then one scalar
 * division) and rounds x · s with the same float multiply and round-half-to-even conversion, so
 * all variants give identical bytes. */
#include "bk_simd.h"

#include <math.h>
#include <string.h>

BK_INLINE float token_scale(float max_abs) { return 127.0f / fmaxf(max_abs, 1e-5f); }

BK_INLINE int8_t quantize_one(float x, float s) {
    const float q = rintf(x * s); /* default rounding mode: half to even */
    return (int8_t)(q > 127.0f ? 127 : q < -128.0f ? -128 : q);
}

/* The specification. */
float bk_quantize_token_scalar(const float *x, size_t count, int8_t *q, int32_t *sum) {
    float m = 0.0f;
    for (size_t i = 0; i < count; i++) m = fmaxf(m, fabsf(x[i]));
    const float s = token_scale(m);
    int32_t total = 0;
    for (size_t i = 0; i < count; i++) total += q[i] = quantize_one(x[i], s);
    *sum = total;
    return s;
}

#if BK_X86
BK_TARGET_AVX2
float bk_quantize_token_avx2(const float *x, size_t count, int8_t *q, int32_t *sum) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m8 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) m8 = _mm256_max_ps(m8, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float m = _mm_cvtss_f32(m4);
    for (size_t j = i; j < count; j++) m = fmaxf(m, fabsf(x[j]));
    const float s = token_scale(m);

    const __m256 sv = _mm256_set1_ps(s);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), ones = _mm256_set1_epi8(1);
    __m256i total = _mm256_setzero_si256();
    i = 0;
    for (; i + 32 <= count; i += 32) {
        __m256i v[4];
        for (int j = 0; j < 4; j++)
            v[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), sv));
        /* Saturating packs clamp to [-128, 127]; they interleave lanes, the permute restores order. */
        const __m256i bytes = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3])), order);
        _mm256_storeu_si256((__m256i *)(q + i), bytes);
        total = _mm256_add_epi32(total, _mm256_madd_epi16(_mm256_maddubs_epi16(ones, bytes), _mm256_set1_epi16(1)));
    }
    int32_t acc = bk_avx2_hsum_epi32(total);
    for (; i < count; i++) acc += q[i] = quantize_one(x[i], s);
    *sum = acc;
    return s;
}
BK_UNTARGET

BK_TARGET_AVX512
float bk_quantize_token_avx512(const float *x, size_t count, int8_t *q, int32_t *sum) {
    /* Four maxima in flight (the max is exact, so any order gives the same): one chain of
     * VMAXPS (4 cycles each) was half of a 256-value token's time. */
    __m512 m16[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= count; i += 64)
        for (int j = 0; j < 4; j++) m16[j] = _mm512_max_ps(m16[j], _mm512_abs_ps(_mm512_loadu_ps(x + i + 16 * j)));
    for (; i + 16 <= count; i += 16) m16[0] = _mm512_max_ps(m16[0], _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m16[0], m16[1]), _mm512_max_ps(m16[2], m16[3])));
    for (size_t j = i; j < count; j++) m = fmaxf(m, fabsf(x[j]));
    const float s = token_scale(m);

    const __m512 sv = _mm512_set1_ps(s);
    /* 64 values per step: saturating packs (per 128-bit lane, put back in order by one VPERMD)
     * and a byte sum by VPSADBW of the bytes offset by 128: 15 operations on ports 0 and 5 where
     * 16 values at a time took 28 (VPMOVSDB is two, and the clamped int32 sum three). */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i offset = _mm512_set1_epi8((char)0x80);
    __m512i sad = _mm512_setzero_si512();
    i = 0;
    for (; i + 64 <= count; i += 64) {
        __m512i v[4];
        for (int j = 0; j < 4; j++) v[j] = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i + 16 * j), sv));
        const __m512i bytes = _mm512_permutexvar_epi32(
            order, _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3])));
        _mm512_storeu_si512((void *)(q + i), bytes);
        sad = _mm512_add_epi64(sad, _mm512_sad_epu8(_mm512_xor_si512(bytes, offset), _mm512_setzero_si512()));
    }
    __m512i total = _mm512_setzero_si512();
    for (; i + 16 <= count; i += 16) {
        const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), sv));
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtsepi32_epi8(v)); /* saturates to int8 */
        total = _mm512_add_epi32(total, _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)),
                                                         _mm512_set1_epi32(-128)));
    }
    int32_t acc = _mm512_reduce_add_epi32(total) +
                  (int32_t)(_mm512_reduce_add_epi64(sad) - 128 * (int64_t)(count / 64 * 64));
    for (; i < count; i++) acc += q[i] = quantize_one(x[i], s);
    *sum = acc;
    return s;
}
BK_UNTARGET
#endif

#if BK_AARCH64
float bk_quantize_token_neon(const float *x, size_t count, int8_t *q, int32_t *sum) {
    float32x4_t m4 = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= count; i += 4) m4 = vmaxq_f32(m4, vabsq_f32(vld1q_f32(x + i)));
    float m = vmaxvq_f32(m4);
    for (size_t j = i; j < count; j++) m = fmaxf(m, fabsf(x[j]));
    const float s = token_scale(m);

    int32x4_t total = vdupq_n_s32(0);
    i = 0;
    for (; i + 8 <= count; i += 8) {
        const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + i), s)); /* to nearest even */
        const int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + i + 4), s));
        const int8x8_t bytes = vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)));
        vst1_s8(q + i, bytes);
        total = vpadalq_s16(total, vmovl_s8(bytes));
    }
    int32_t acc = vaddvq_s32(total);
    for (; i < count; i++) acc += q[i] = quantize_one(x[i], s);
    *sum = acc;
    return s;
}
#endif

void bk_quantize_tokens(const bk_kernels *k, const float *x, size_t x_stride, size_t cols,
                        size_t token_count, int8_t *q, size_t q_stride, float *scales,
                        int32_t *sums) {
    /* The values of the token after next are prefetched: the hardware prefetchers alone fed the
     * quantizer from beyond L2 at ~20 GB/s on Emerald Rapids; with this, 256x688 × 768 tokens
     * took 82 µs instead of 101 (one token ahead 81, four 84). */
    for (size_t t = 0; t < token_count; t++) {
        int8_t *row = q + t * q_stride;
        if (t + 2 < token_count)
            for (size_t c = 0; c < cols; c += 16) __builtin_prefetch(x + (t + 2) * x_stride + c);
        scales[t] = k->quantize_token(x + t * x_stride, cols, row, &sums[t]);
        if (q_stride > cols) memset(row + cols, 0, q_stride - cols);
    }
}

/* Finite floats have an exponent field below all ones: adding one to the field carries into the
 * sign bit only for NaN and infinities, so one OR over the whole array finds them without a
 * branch per value. */
#define EXPONENT 0x7F800000u
#define EXPONENT_ONE 0x00800000u
#if BK_X86
BK_TARGET_AVX512
static bool floats_finite_avx512(const float *x, size_t count) {
    const __m512i e = _mm512_set1_epi32((int)EXPONENT), one = _mm512_set1_epi32((int)EXPONENT_ONE);
    __m512i carries = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= count; i += 64)
        for (int j = 0; j < 4; j++) {
            /* 2 KiB ahead (past the end too: a prefetch never faults), as the quantizer does: the
             * check is the first pass over values that usually come from beyond L2. */
            _mm_prefetch((const char *)(x + i + 512 + 16 * j), _MM_HINT_T0);
            carries = _mm512_or_si512(carries, _mm512_add_epi32(_mm512_and_si512(_mm512_loadu_si512((const void *)(x + i + 16 * j)), e), one));
        }
    if (i < count) { /* the last 1-63 values, 16 at a time under a mask */
        for (; i < count; i += 16) {
            const __mmask16 m = count - i >= 16 ? 0xFFFF : (__mmask16)((1u << (count - i)) - 1);
            carries = _mm512_or_si512(carries, _mm512_add_epi32(_mm512_and_si512(_mm512_maskz_loadu_epi32(m, x + i), e), one));
        }
    }
    return !_mm512_test_epi32_mask(carries, _mm512_set1_epi32((int)0x80000000u));
}
BK_UNTARGET

BK_TARGET_AVX2
static bool floats_finite_avx2(const float *x, size_t count) {
    const __m256i e = _mm256_set1_epi32((int)EXPONENT), one = _mm256_set1_epi32((int)EXPONENT_ONE);
    __m256i carries = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= count; i += 8)
        carries = _mm256_or_si256(carries, _mm256_add_epi32(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i)), e), one));
    uint32_t rest = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(carries));
    for (; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        rest |= ((bits & EXPONENT) + EXPONENT_ONE) >> 31;
    }
    return rest == 0;
}
BK_UNTARGET
#endif

bool bk_floats_finite(const bk_kernels *k, const float *x, size_t count) {
#if BK_X86
    if (k->isa == BK_ISA_AVX512) return floats_finite_avx512(x, count);
    if (k->isa == BK_ISA_AVX2 || k->isa == BK_ISA_AVXVNNI) return floats_finite_avx2(x, count);
#endif
    (void)k;
    uint32_t carries = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        carries |= (bits & EXPONENT) + EXPONENT_ONE;
    }
    return (carries >> 31) == 0;
}

/* Σ|x| in double (so the scale hardly depends on the order), in eight lanes added in a fixed order
   and then the tail: BitTraining's re-quantization after every step sums the same way (vectorized),
   so a trained model's codes and scales are exactly this function's. */
static double abs_sum(const float *x, size_t n) {
    double lane[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lane[l] += fabs((double)x[i + l]);
    double total = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++) total += fabs((double)x[i]);
    return total;
}

void bk_ternarize_absmean(const float *w, size_t rows, size_t cols, bool per_row, int8_t *out,
                          float *scales) {
    const size_t groups = per_row ? rows : 1, group_size = per_row ? cols : rows * cols;
    for (size_t g = 0; g < groups; g++) {
        const float *src = w + g * group_size;
        const double total = abs_sum(src, group_size);
        const float mean = group_size ? (float)(total / (double)group_size) : 0.0f;
        const float scale = fmaxf(mean, 1e-5f), inverse = 1.0f / scale;
        for (size_t i = 0; i < group_size; i++) {
            const float v = rintf(src[i] * inverse);
            out[g * group_size + i] = (int8_t)(v > 1.0f ? 1 : v < -1.0f ? -1 : v);
        }
        scales[g] = scale;
    }
}
