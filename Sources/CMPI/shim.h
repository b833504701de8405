#ifndef BK_CMPI_SHIM_H
#define BK_CMPI_SHIM_H
/* Open MPI's handles (MPI_COMM_WORLD, MPI_INT64_T, MPI_SUM, MPI_IN_PLACE, ...) are macros that cast
 * the address of a global, which Swift cannot import: each one used is wrapped in a function here.
 * Only BitDistributed imports this module. */
#include <mpi.h>

static inline MPI_Comm bk_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype bk_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype bk_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype bk_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype bk_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype bk_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op bk_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op bk_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op bk_mpi_min(void) { return MPI_MIN; }
static inline MPI_Op bk_mpi_bxor(void) { return MPI_BXOR; }
static inline void *bk_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int bk_mpi_success(void) { return MPI_SUCCESS; }
static inline int bk_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
#endif
