/* dispatch.c — one table of kernels per ISA, and the choice of the best one, made once.
 * Candidates are tried in priority order; the first whose required features the CPU and OS have
 * wins (as simdjson's implementation list). BITKERNELS_ISA overrides the choice; naming a variant
 * this CPU cannot run is reported as an error, never executed. */
#include "bk_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* The entries of variant `name`, all but ternary_matmul (which a variant may take from another). */
#define BK_TABLE_ENTRIES(name)                                                                     \
    .popcount = bk_popcount_##name, .pair_counts = bk_pair_counts_##name,                          \
    .and_counts = bk_and_counts_##name, .row_popcounts = bk_row_popcounts_##name,                  \
    .masked_flip = bk_masked_flip_##name, .random_bits = bk_random_bits_##name,                    \
    .quantize_token = bk_quantize_token_##name, .bf16_dots = bk_bf16_dots_##name,                  \
    .bf16_dots_tokens = bk_bf16_dots_tokens_##name,                                                \
    .i8_dots = bk_i8_dots_##name, .encode_threshold = bk_encode_threshold_##name,                  \
    .encode_rank = bk_encode_rank_##name, .rmsnorm = bk_rmsnorm_##name,                            \
    .rmsnorm_backward = bk_rmsnorm_backward_##name,                                                \
    .rmsnorm_weight_sums = bk_rmsnorm_weight_sums_##name, .sum_squares = bk_sum_squares_##name,     \
    .adamw_update = bk_adamw_update_##name, .requantize = bk_requantize_##name,                    \
    .softmax_row = bk_softmax_row_##name, .relu2_times = bk_relu2_times_##name,                    \
    .relu2_backward = bk_relu2_backward_##name, .dequantize_token = bk_dequantize_token_##name,    \
    .rope_rotate = bk_rope_rotate_##name, .attention_token = bk_attention_token_##name

#define BK_TABLE(name, isa_id, blur)                                                               \
    static const bk_kernels table_##name = {                                                       \
        .isa = isa_id,                                                                             \
        BK_TABLE_ENTRIES(name),                                                                    \
        .ternary_matmul = bk_ternary_matmul_##name,                                                \
        .encode_rank_blur = bk_encode_rank_blur_##blur,                                            \
    };

BK_TABLE(scalar, BK_ISA_SCALAR, scalar)
#if BK_X86
BK_TABLE(avx2, BK_ISA_AVX2, avx2)
/* AVX-VNNI: the AVX2 table with VPDPBUSD on ymm for the ternary products. quantize_token stays
 * AVX2: it is float absmax and rounding, with no byte dot products for VNNI to take over. */
static const bk_kernels table_avxvnni = {
    .isa = BK_ISA_AVXVNNI,
    BK_TABLE_ENTRIES(avx2),
    .ternary_matmul = bk_ternary_matmul_avxvnni,
    .encode_rank_blur = bk_encode_rank_blur_avx2,
};
BK_TABLE(avx512, BK_ISA_AVX512, avx512)
#endif
#if BK_AARCH64
BK_TABLE(neon, BK_ISA_NEON, scalar)
#endif

bool bk_isa_supported(bk_isa isa) {
    const bk_cpu_features *f = bk_cpu_detect();
    switch (isa) {
    case BK_ISA_SCALAR: return true;
#if BK_X86
    case BK_ISA_AVX2: return f->avx2 && f->bmi2 && f->popcnt && f->fma;
    case BK_ISA_AVXVNNI: return f->avx_vnni && f->avx2 && f->bmi2 && f->popcnt && f->fma;
    case BK_ISA_AVX512:
        return f->avx512f && f->avx512bw && f->avx512vl && f->avx512_vpopcntdq &&
               f->avx512_vnni && f->avx2 && f->bmi2 && f->popcnt;
#endif
#if BK_AARCH64
    case BK_ISA_NEON: return f->neon;
#endif
    default: (void)f; return false;
    }
}

const bk_kernels *bk_kernels_for(bk_isa isa) {
    if (!bk_isa_supported(isa)) return NULL;
    switch (isa) {
    case BK_ISA_SCALAR: return &table_scalar;
#if BK_X86
    case BK_ISA_AVX2: return &table_avx2;
    case BK_ISA_AVXVNNI: return &table_avxvnni;
    case BK_ISA_AVX512: return &table_avx512;
#endif
#if BK_AARCH64
    case BK_ISA_NEON: return &table_neon;
#endif
    default: return NULL;
    }
}

static const bk_kernels *resolve(const char *forced, char *error, size_t error_size) {
    if (forced != NULL && forced[0] != '\0') {
        bk_isa isa;
        if (!bk_isa_from_name(forced, &isa)) {
            snprintf(error, error_size,
                     "BITKERNELS_ISA=%s is not a variant; use scalar, avx2, avxvnni, avx512 or neon", forced);
            return NULL;
        }
        const bk_kernels *k = bk_kernels_for(isa);
        if (k == NULL)
            snprintf(error, error_size,
                     "BITKERNELS_ISA=%s: this CPU (or its OS) cannot run the %s variant", forced,
                     bk_isa_name(isa));
        return k;
    }
    static const bk_isa priority[] = {BK_ISA_AVX512, BK_ISA_AVXVNNI, BK_ISA_AVX2, BK_ISA_NEON, BK_ISA_SCALAR};
    for (size_t i = 0; i < sizeof priority / sizeof priority[0]; i++) {
        const bk_kernels *k = bk_kernels_for(priority[i]);
        if (k != NULL) return k;
    }
    return NULL; /* unreachable: scalar is always supported */
}

const bk_kernels *bk_kernels_resolve(const char *override_name, const char **error) {
    static _Thread_local char message[256];
    message[0] = '\0';
    const bk_kernels *k = resolve(override_name, message, sizeof message);
    if (error) *error = k ? NULL : message;
    return k;
}

static const bk_kernels *best;
static char best_error[256];
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void choose_best(void) { best = resolve(getenv("BITKERNELS_ISA"), best_error, sizeof best_error); }

const bk_kernels *bk_kernels_best(void) {
    pthread_once(&best_once, choose_best);
    return best;
}

const char *bk_kernels_best_error(void) {
    pthread_once(&best_once, choose_best);
    return best == NULL ? best_error : NULL;
}
