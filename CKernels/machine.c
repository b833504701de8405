/* machine.c — machine facts the tools report next to kernel timings: read bandwidth, the core
 * clock and the OpenMP team size (the topology is in placement.c). */
#define _GNU_SOURCE /* sched_getcpu */
#include "bk_internal.h"
#include "bk_omp.h"
#include "bk_simd.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- read bandwidth ------------------------------------------------------------------------- */

static uint64_t read_sum_scalar(const uint64_t *words, size_t word_count) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= word_count; i += 4) {
        s0 += words[i];
        s1 += words[i + 1];
        s2 += words[i + 2];
        s3 += words[i + 3];
    }
    for (; i < word_count; i++) s0 += words[i];
    return s0 + s1 + s2 + s3;
}

#if BK_X86
BK_TARGET_AVX2
/* Four independent accumulators keep two loads per cycle in flight: the cheapest possible work
 * per byte, so its rate is the memory system's, not the core's. */
static uint64_t read_sum_avx2(const uint64_t *words, size_t word_count) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= word_count; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(words + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(words + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(words + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(words + i + 12)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (uint64_t)_mm_cvtsi128_si64(h) + (uint64_t)_mm_extract_epi64(h, 1) +
           read_sum_scalar(words + i, word_count - i);
}
BK_UNTARGET
#endif

uint64_t bk_read_sum(const uint64_t *words, size_t word_count) {
#if BK_X86
    if (bk_isa_supported(BK_ISA_AVX2)) return read_sum_avx2(words, word_count);
#endif
    return read_sum_scalar(words, word_count);
}

uint64_t bk_read_sum_parallel(const uint64_t *words, size_t word_count, int threads) {
    const int team = bk_team_size(threads);
    uint64_t total = 0;
#pragma omp parallel num_threads(team) reduction(+ : total)
    {
        const size_t t = (size_t)omp_get_thread_num(), n = (size_t)omp_get_num_threads();
        const size_t begin = word_count * t / n, end = word_count * (t + 1) / n;
        total += bk_read_sum(words + begin, end - begin);
    }
    return total;
}

static double now_seconds(void);

/* ---- VPDPBUSD peak --------------------------------------------------------------------------- */

#if BK_X86
BK_TARGET_AVX512
/* Twelve independent accumulator chains, more than latency (5) × throughput (2 per cycle on
 * Golden Cove, 1 on Zen 4) needs, with both operands in registers: only the port limits. */
static int64_t vpdpbusd_chains_avx512(uint64_t iterations) {
    __m512i acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_epi32(i);
    const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
    for (uint64_t n = 0; n < iterations; n++) {
        for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]), "+v"(acc[5]));
    }
    __m512i s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_epi32(s, acc[i]);
    return _mm512_reduce_add_epi32(s);
}
BK_UNTARGET
BK_TARGET_AVXVNNI
static int64_t vpdpbusd_chains_avxvnni(uint64_t iterations) {
    __m256i acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_epi32(i);
    const __m256i a = _mm256_set1_epi8(1), b = _mm256_set1_epi8(2);
    for (uint64_t n = 0; n < iterations; n++) {
        for (int i = 0; i < 12; i++) acc[i] = _mm256_dpbusd_avx_epi32(acc[i], a, b);
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]), "+x"(acc[5]));
    }
    __m256i s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_epi32(s, acc[i]);
    return bk_avx2_hsum_epi32(s);
}
BK_UNTARGET
#endif

double bk_measure_vpdpbusd_peak(bk_isa isa, double seconds) {
#if BK_X86
    if (!bk_isa_supported(isa) || (isa != BK_ISA_AVX512 && isa != BK_ISA_AVXVNNI)) return 0;
    const bool wide = isa == BK_ISA_AVX512;
    const double per_iteration = 12.0 * (wide ? 64 : 32);
    volatile int64_t sink = wide ? vpdpbusd_chains_avx512(1000) : vpdpbusd_chains_avxvnni(1000);
    uint64_t iterations = 1 << 16;
    double best = 0, elapsed = 0;
    while (elapsed < seconds) {
        const double t0 = now_seconds();
        sink = wide ? vpdpbusd_chains_avx512(iterations) : vpdpbusd_chains_avxvnni(iterations);
        const double t = now_seconds() - t0;
        elapsed += t;
        /* The fastest sample: on a shared machine the slow ones lost the core. */
        if (t > 0 && per_iteration * (double)iterations / t > best) best = per_iteration * (double)iterations / t;
        if (t < 1e-3) iterations *= 2;
    }
    (void)sink;
    return best;
#else
    (void)isa;
    (void)seconds;
    return 0;
#endif
}

/* ---- clock ---------------------------------------------------------------------------------- */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 1000 dependent register additions: `add reg, reg` costs one cycle on every x86 and Arm core,
 * whereas Golden Cove folds `add reg, imm` chains at rename (they read 6x the clock). */
static void add_chain(uint64_t iterations) {
#if BK_X86 || BK_AARCH64
    uint64_t x = 0, one = 1;
    for (uint64_t i = 0; i < iterations; i++) {
#if BK_X86
        __asm__ volatile(".rept 1000\n\taddq %1, %0\n\t.endr" : "+r"(x), "+r"(one));
#else
        __asm__ volatile(".rept 1000\n\tadd %0, %0, %1\n\t.endr" : "+r"(x), "+r"(one));
#endif
    }
#else
    (void)iterations;
#endif
}

double bk_measure_clock_hz(double seconds) {
#if BK_X86 || BK_AARCH64
    add_chain(2000); /* wake the core up to its running clock */
    /* ~30 µs samples, the fastest kept: most fit between two preemptions on a loaded machine. */
    const uint64_t iterations = 100;
    double best = 0;
    const double deadline = now_seconds() + (seconds > 0 ? seconds : 0.05);
    do {
        const double t0 = now_seconds();
        add_chain(iterations);
        const double hz = (double)iterations * 1000.0 / (now_seconds() - t0);
        if (hz > best) best = hz;
    } while (now_seconds() < deadline);
    return best;
#else
    (void)seconds;
    return 0;
#endif
}

/* The first number in a file (kHz for cpufreq), or 0. */
static double read_number(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    double v = 0;
    if (fscanf(f, "%lf", &v) != 1) v = 0;
    fclose(f);
    return v;
}

/* "cpu MHz" of the first processor in /proc/cpuinfo, or 0. */
static double cpuinfo_mhz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return 0;
    char line[256];
    double mhz = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) mhz = strtod(colon + 1, NULL);
            break;
        }
    fclose(f);
    return mhz;
}

double bk_os_clock_hz(bk_os_clock *kind) {
    bk_os_clock k = BK_OS_CLOCK_NONE;
    double hz = 0;
#if defined(__linux__)
    char path[128];
    const int cpu = sched_getcpu(); /* the core that just ran the caller, hence its clock */
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_cur_freq",
             cpu < 0 ? 0 : cpu);
    if ((hz = read_number(path) * 1e3) > 0) {
        k = BK_OS_CLOCK_CURRENT;
    } else if ((hz = read_number("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") * 1e3) > 0) {
        k = BK_OS_CLOCK_MAXIMUM;
    } else if ((hz = cpuinfo_mhz() * 1e6) > 0) {
        /* Without cpufreq (virtual machines) Linux reports the TSC's rate: the nominal clock. */
        k = BK_OS_CLOCK_NOMINAL;
    }
#endif
    if (kind) *kind = hz > 0 ? k : BK_OS_CLOCK_NONE;
    return hz > 0 ? hz : 0;
}

const char *bk_os_clock_name(bk_os_clock kind) {
    switch (kind) {
    case BK_OS_CLOCK_CURRENT: return "current";
    case BK_OS_CLOCK_MAXIMUM: return "maximum";
    case BK_OS_CLOCK_NOMINAL: return "nominal";
    default: return "none";
    }
}

int bk_omp_max_threads(void) { return omp_get_max_threads(); }
