/* cpu.c — CPU feature detection. On x86 a feature counts only if CPUID reports it *and* XGETBV
 * shows the OS saves the register state it needs (YMM for AVX2, ZMM and opmask for AVX-512), as
 * libpopcnt's get_cpuid() does: a kernel or hypervisor may disable AVX-512 state. */
#include "bk_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

#if BK_X86
#include <cpuid.h>
#endif
#if BK_AARCH64 && defined(__linux__)
#include <sys/auxv.h>
#endif

static bk_cpu_features detected;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

#if BK_X86
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static void detect_x86(bk_cpu_features *f) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    const unsigned max_leaf = a;
    f->intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* "Genu" "ineI" "ntel" */
    f->amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;   /* "Auth" "enti" "cAMD" */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    f->popcnt = (c >> 23) & 1;
    const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool ymm_state = (xcr0 & 0x6) == 0x6;           /* SSE and AVX state */
    const bool zmm_state = ymm_state && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    f->fma = fma && avx && ymm_state;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = avx && ymm_state && ((b >> 5) & 1);
        f->bmi2 = (b >> 8) & 1;
        f->avx512f = zmm_state && ((b >> 16) & 1);
        f->avx512bw = f->avx512f && ((b >> 30) & 1);
        f->avx512vl = f->avx512f && ((b >> 31) & 1);
        f->avx512_vnni = f->avx512f && ((c >> 11) & 1);
        f->avx512_vpopcntdq = f->avx512f && ((c >> 14) & 1);
        f->gfni = (c >> 8) & 1;
        /* AMX counts only with XTILECFG and XTILEDATA enabled in XCR0 (bits 17, 18); Linux also
         * wants arch_prctl(ARCH_REQ_XCOMP_PERM) before a process touches tile data. */
        const bool tile_state = (xcr0 & 0x60000) == 0x60000;
        f->amx_tile = tile_state && ((d >> 24) & 1);
        f->amx_int8 = f->amx_tile && ((d >> 25) & 1);
        unsigned max_sub = a;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx_vnni = f->avx2 && ((a >> 4) & 1);
        }
    }
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
        unsigned words[12]; /* 48 bytes of name, copied out: char storage is not unsigned */
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002 + leaf, &words[leaf * 4], &words[leaf * 4 + 1],
                        &words[leaf * 4 + 2], &words[leaf * 4 + 3]);
        memcpy(f->brand, words, sizeof words);
        f->brand[48] = '\0';
        /* Trim the padding some vendors put around the name. */
        size_t start = 0, len = strlen(f->brand);
        while (start < len && f->brand[start] == ' ') start++;
        while (len > start && f->brand[len - 1] == ' ') len--;
        memmove(f->brand, f->brand + start, len - start);
        f->brand[len - start] = '\0';
    }
}
#endif

static void detect(void) {
    bk_cpu_features f;
    memset(&f, 0, sizeof f);
#if BK_X86
    detect_x86(&f);
#elif BK_AARCH64
    f.neon = true; /* Advanced SIMD is mandatory on AArch64 */
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
    f.dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#endif
    detected = f;
}

const bk_cpu_features *bk_cpu_detect(void) {
    pthread_once(&detect_once, detect);
    return &detected;
}

static const char *const isa_names[BK_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon", "avxvnni"};

const char *bk_isa_name(bk_isa isa) {
    return (unsigned)isa < BK_ISA_COUNT ? isa_names[isa] : "unknown";
}

bool bk_isa_from_name(const char *name, bk_isa *out) {
    if (name == NULL) return false;
    for (int i = 0; i < BK_ISA_COUNT; i++) {
        const char *n = isa_names[i];
        size_t j = 0;
        while (n[j] && name[j] && tolower((unsigned char)name[j]) == n[j]) j++;
        if (n[j] == '\0' && name[j] == '\0') {
            *out = (bk_isa)i;
            return true;
        }
    }
    return false;
}
