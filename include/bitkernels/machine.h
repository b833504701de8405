/*
 * bitkernels/machine.h — machine facts and yardsticks the tools print beside kernel timings:
 * read bandwidth, the plain POPCNT loops, the core clock and the OpenMP team size.
 */
#ifndef BITKERNELS_MACHINE_H
#define BITKERNELS_MACHINE_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Machine facts for tools
 * ------------------------------------------------------------------------------------------- */

/* Sums a buffer as fast as the CPU can read it: the read-bandwidth yardstick of the benchmarks. */
uint64_t bk_read_sum(const uint64_t *words, size_t word_count);

/* bk_read_sum over `threads` OpenMP threads, each summing a contiguous share (0 = default team). */
uint64_t bk_read_sum_parallel(const uint64_t *words, size_t word_count, int threads);

/* The scalar reference loops compiled with the POPCNT instruction: the "plain POPCNT loop" that
 * benchmarks compare against, since the portable scalar reference cannot assume POPCNT. */
uint64_t bk_popcount_popcnt_loop(const uint64_t *words, size_t word_count);
bk_pair_counts bk_pair_counts_popcnt_loop(const uint64_t *a, const uint64_t *b, size_t word_count);

/* Byte multiply-adds per second of VPDPBUSD on this core (isa BK_ISA_AVX512: zmm, BK_ISA_AVXVNNI:
 * ymm), independent chains in registers, the fastest of samples over `seconds`; 0 when the CPU
 * lacks the variant. The yardstick of the int8 products' compute efficiency. */
double bk_measure_vpdpbusd_peak(bk_isa isa, double seconds);

/* The core clock in Hz, measured by a chain of dependent register additions (one per cycle on
 * every x86 and Arm core) over about `seconds` seconds: the clock of B/cycle figures. */
double bk_measure_clock_hz(double seconds);

/* What a clock the operating system reports means. */
typedef enum bk_os_clock {
    BK_OS_CLOCK_NONE = 0,    /* the OS reports no clock */
    BK_OS_CLOCK_CURRENT = 1, /* cpufreq's current clock of the calling thread's core */
    BK_OS_CLOCK_MAXIMUM = 2, /* cpufreq's maximum (turbo included) */
    BK_OS_CLOCK_NOMINAL = 3  /* /proc/cpuinfo without cpufreq (virtual machines): the TSC's rate */
} bk_os_clock;

/* The clock the OS reports in Hz (Linux: cpufreq, else /proc/cpuinfo), 0 when none; *kind (may be
 * NULL) says which clock it is. To check bk_measure_clock_hz against, not to replace it. */
double bk_os_clock_hz(bk_os_clock *kind);

/* "current", "maximum", "nominal" or "none". */
const char *bk_os_clock_name(bk_os_clock kind);

/* OpenMP: the default team size (omp_get_max_threads). */
int bk_omp_max_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* BITKERNELS_MACHINE_H */
