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

/* The core clock in Hz measured by a chain of dependent additions (one per cycle) over
 * about `seconds` seconds. */
double bk_measure_clock_hz(double seconds);

/* OpenMP: the default team size (omp_get_max_threads). */
int bk_omp_max_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* BITKERNELS_MACHINE_H */
