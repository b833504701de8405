/*
 * bitkernels/topology.h — the machine's topology (hwloc) and thread placement: binding OpenMP
 * teams to processing units and moving row shares to their threads' NUMA nodes.
 */
#ifndef BITKERNELS_TOPOLOGY_H
#define BITKERNELS_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Topology and thread placement (hwloc)
 * ------------------------------------------------------------------------------------------- */

typedef struct bk_topology_summary {
    int packages, numa_nodes, l3_caches, cores, pus;
    uint64_t l1d_bytes, l2_bytes, l3_bytes; /* per cache instance, 0 when unknown */
    uint64_t total_memory_bytes;
} bk_topology_summary;

/* The machine's topology through hwloc. Returns false (and zeroes *out) when hwloc fails. */
bool bk_topology_summarize(bk_topology_summary *out);

typedef struct bk_topology bk_topology;

/* This machine (both NULL), a synthetic description in hwloc's syntax ("pack:2 numa:2 l3:4 core:8
 * pu:2"), or an XML export (lstopo --of xml). NULL with a sentence in error on failure. Only the
 * process's allowed PUs are included. */
bk_topology *bk_topology_open(const char *synthetic, const char *xml_path, char *error,
                              size_t error_size);
void bk_topology_close(bk_topology *t);
bool bk_topology_is_this_system(const bk_topology *t);
/* Writes the topology as hwloc XML (what lstopo --of xml writes). Returns 0 on success. */
int bk_topology_export_xml(const bk_topology *t, const char *path);
void bk_topology_summary_of(const bk_topology *t, bk_topology_summary *out);

/* One processing unit (hardware thread), with the logical index of its core, L2, L3, NUMA node and
 * package (-1 when the topology has no such level). */
typedef struct bk_pu_info {
    int os_index, core, l2, l3, numa, package;
} bk_pu_info;

/* The PUs in hwloc's logical order (packages, then NUMA nodes, L3s, cores). Returns the total
 * count; writes at most `capacity`. */
size_t bk_topology_pus(const bk_topology *t, bk_pu_info *out, size_t capacity);

/* The scatter plan: thread i → the PU with OS index pu_os_index[i], as hwloc_distrib() spreads a
 * team from the topology's root (packages, NUMA nodes, L3s, L2s, cores, then SMT siblings) and
 * `hwloc-distrib --single` prints it. Returns 0, or -1 when threads is not in 1...PUs. */
int bk_topology_scatter(const bk_topology *t, int threads, int *pu_os_index);

/* Binds OpenMP thread i of a team of `threads` to the PU with OS index pu_os_index[i] and reports
 * where each thread runs afterwards (observed[i], -1 when unknown). libomp keeps a team of the
 * same size on the same threads, so later parallel kernels with this thread count run pinned.
 * Returns 0, or -1 with a sentence in error (binding unsupported by the OS, PU not allowed). */
int bk_bind_team(bk_topology *t, const int *pu_os_index, int threads, int *observed,
                 char *error, size_t error_size);

/* Where each thread of a new parallel region of `threads` threads runs (observed[i], -1 when
 * unknown): checks that a binding survives from one region to the next. */
int bk_team_locations(bk_topology *t, int threads, int *observed);

/* Lets a team of `threads` run anywhere in the allowed cpuset again. */
int bk_unbind_team(bk_topology *t, int threads);

/* Moves the pages of each thread's contiguous share of rows (the share the threaded kernels give
 * thread i of `threads`) to that thread's NUMA node thread_numa[i]. Returns the bytes placed; 0 on
 * a one-node machine, where there is nothing to do. Packed ternary matrices are shared out in
 * groups of four rows: pass the groups, ceil(rows / 4) of 4 · block_count · 64 bytes. */
size_t bk_numa_place_rows(bk_topology *t, void *base, size_t row_bytes, size_t rows,
                          const int *thread_numa, int threads);

#ifdef __cplusplus
}
#endif
#endif /* BITKERNELS_TOPOLOGY_H */
