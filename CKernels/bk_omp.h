/* bk_omp.h — the few OpenMP runtime calls the kernels make. Declared here rather than through
 * <omp.h> because Debian ships omp.h inside clang-14's resource directory, which must not shadow
 * the building compiler's own headers. The pragmas need only -fopenmp. */
#ifndef BK_OMP_H
#define BK_OMP_H
#ifdef _OPENMP
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
#else
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
#endif

/* Scoring forks a team only above this many rows: below it, waking the team costs more than the
 * work (a few microseconds against ~3 ns per 784-bit row). */
#define BK_PAR_MIN_ROWS 16384

/* threads <= 0 means OpenMP's default team size. */
static inline int bk_team_size(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }
#endif
