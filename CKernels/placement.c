/* placement.c — the machine's topology through hwloc (this machine, a synthetic description or an
 * XML export), the scatter plan hwloc_distrib() gives for it, the binding of an OpenMP team to
 * planned processing units, and NUMA placement of row ranges. The other plans are computed in Swift
 * from the flat PU table exported here; every plan is a pure function of the loaded topology, so
 * tests check them on synthetic topologies. */
#include "bk_internal.h"
#include "bk_omp.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bk_topology {
    hwloc_topology_t hw;
    bool this_system;
};

/* The CPUs the process was started on (taskset, numactl, a batch scheduler), read once before
 * any team is bound, so that later binding cannot widen what the user allowed. */
static pthread_once_t start_binding_once = PTHREAD_ONCE_INIT;
static hwloc_bitmap_t start_binding;

static void read_start_binding(void) {
    hwloc_topology_t hw;
    if (hwloc_topology_init(&hw) != 0) return;
    if (hwloc_topology_load(hw) == 0) {
        start_binding = hwloc_bitmap_alloc();
        if (hwloc_get_cpubind(hw, start_binding, HWLOC_CPUBIND_PROCESS) != 0) {
            hwloc_bitmap_free(start_binding);
            start_binding = NULL;
        }
    }
    hwloc_topology_destroy(hw);
}

/* hwloc already drops PUs outside the cgroup cpuset; this also drops those outside the process's
 * affinity mask, so plans only use CPUs the process was given. */
static void restrict_to_process_binding(hwloc_topology_t hw) {
    pthread_once(&start_binding_once, read_start_binding);
    if (start_binding == NULL || hwloc_bitmap_iszero(start_binding)) return;
    hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset(hw);
    if (hwloc_bitmap_isincluded(all, start_binding)) return;
    hwloc_topology_restrict(hw, start_binding, 0);
}

bk_topology *bk_topology_open(const char *synthetic, const char *xml_path, char *error,
                              size_t error_size) {
    bk_topology *t = calloc(1, sizeof *t);
    if (t == NULL || hwloc_topology_init(&t->hw) != 0) {
        snprintf(error, error_size, "hwloc could not initialize a topology");
        free(t);
        return NULL;
    }
    int rc = 0;
    if (synthetic != NULL && synthetic[0] != '\0') {
        rc = hwloc_topology_set_synthetic(t->hw, synthetic);
        if (rc != 0)
            snprintf(error, error_size,
                     "'%s' is not a synthetic topology hwloc accepts (example: \"pack:2 numa:2 l3:4 "
                     "core:8 pu:2\", counts per parent, outermost first)",
                     synthetic);
    } else if (xml_path != NULL && xml_path[0] != '\0') {
        /* Checked here first: libxml2 prints "I/O warning: failed to load external entity" for a
         * missing file on every thread but the first one hwloc silenced it on. */
        FILE *f = fopen(xml_path, "r");
        const int open_errno = f == NULL ? errno : 0;
        if (f != NULL) fclose(f);
        errno = 0;
        rc = f == NULL ? -1 : hwloc_topology_set_xml(t->hw, xml_path);
        const int e = open_errno ? open_errno : errno;
        if (rc != 0)
            snprintf(error, error_size, "cannot read the topology XML '%s': %s (write one with lstopo --of xml)",
                     xml_path, e ? strerror(e) : "not an hwloc XML export");
    } else {
        t->this_system = true;
    }
    if (rc == 0 && hwloc_topology_load(t->hw) != 0) {
        snprintf(error, error_size, "hwloc could not load the topology");
        rc = -1;
    }
    if (rc == 0 && !t->this_system) t->this_system = hwloc_topology_is_thissystem(t->hw) != 0;
    if (rc == 0 && synthetic == NULL && xml_path == NULL) restrict_to_process_binding(t->hw);
    if (rc != 0) {
        hwloc_topology_destroy(t->hw);
        free(t);
        return NULL;
    }
    return t;
}

void bk_topology_close(bk_topology *t) {
    if (t == NULL) return;
    hwloc_topology_destroy(t->hw);
    free(t);
}

bool bk_topology_is_this_system(const bk_topology *t) { return t->this_system; }

int bk_topology_export_xml(const bk_topology *t, const char *path) {
    return hwloc_topology_export_xml(t->hw, path, 0);
}

/* The logical index of the ancestor of `obj` of `type`, or of the one NUMA node / cache covering
 * it; -1 when the topology has none. */
static int ancestor_index(hwloc_topology_t hw, hwloc_obj_t pu, hwloc_obj_type_t type) {
    if (type == HWLOC_OBJ_NUMANODE) {
        /* NUMA nodes are memory children in hwloc 2: take the first node whose cpuset holds the PU. */
        hwloc_obj_t node = NULL;
        while ((node = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_NUMANODE, node)) != NULL)
            if (node->cpuset && hwloc_bitmap_isset(node->cpuset, pu->os_index)) return (int)node->logical_index;
        return -1;
    }
    hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(hw, type, pu);
    return a ? (int)a->logical_index : -1;
}

size_t bk_topology_pus(const bk_topology *t, bk_pu_info *out, size_t capacity) {
    const int n = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_PU);
    for (int i = 0; i < n && (size_t)i < capacity; i++) {
        hwloc_obj_t pu = hwloc_get_obj_by_type(t->hw, HWLOC_OBJ_PU, (unsigned)i);
        out[i] = (bk_pu_info){
            .os_index = (int)pu->os_index,
            .core = ancestor_index(t->hw, pu, HWLOC_OBJ_CORE),
            .l2 = ancestor_index(t->hw, pu, HWLOC_OBJ_L2CACHE),
            .l3 = ancestor_index(t->hw, pu, HWLOC_OBJ_L3CACHE),
            .numa = ancestor_index(t->hw, pu, HWLOC_OBJ_NUMANODE),
            .package = ancestor_index(t->hw, pu, HWLOC_OBJ_PACKAGE),
        };
    }
    return n > 0 ? (size_t)n : 0;
}

/* hwloc_distrib() from the root (whose cpuset holds only the allowed PUs, see bk_topology_open):
 * the threads are shared among the root's children in proportion to the PUs under each, then
 * recursively among their children — packages, NUMA groups, L3s, L2s, cores, PUs — so each level is
 * covered as widely as the thread count allows before a second thread shares an object of it, and
 * SMT siblings are used only once every core has a thread. Each share (a cpuset) is reduced to its
 * first PU, as `hwloc-distrib --single` does. */
int bk_topology_scatter(const bk_topology *t, int threads, int *pu_os_index) {
    const int pus = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_PU);
    if (threads < 1 || threads > pus) return -1;
    hwloc_cpuset_t *sets = calloc((size_t)threads, sizeof *sets);
    if (sets == NULL) return -1;
    hwloc_obj_t root = hwloc_get_root_obj(t->hw);
    int rc = hwloc_distrib(t->hw, &root, 1, sets, (unsigned)threads, INT_MAX, 0);
    for (int i = 0; i < threads; i++) {
        if (rc == 0 && sets[i] != NULL && hwloc_bitmap_singlify(sets[i]) == 0)
            pu_os_index[i] = hwloc_bitmap_first(sets[i]);
        else
            rc = -1;
        hwloc_bitmap_free(sets[i]);
    }
    free(sets);
    return rc;
}

static uint64_t first_cache_size(hwloc_topology_t topo, hwloc_obj_type_t type) {
    hwloc_obj_t obj = hwloc_get_next_obj_by_type(topo, type, NULL);
    return obj && obj->attr ? obj->attr->cache.size : 0;
}

void bk_topology_summary_of(const bk_topology *t, bk_topology_summary *out) {
    hwloc_topology_t topo = t->hw;
    memset(out, 0, sizeof *out);
    out->packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    out->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    out->l3_caches = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_L3CACHE);
    out->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    out->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    out->l1d_bytes = first_cache_size(topo, HWLOC_OBJ_L1CACHE);
    out->l2_bytes = first_cache_size(topo, HWLOC_OBJ_L2CACHE);
    out->l3_bytes = first_cache_size(topo, HWLOC_OBJ_L3CACHE);
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    out->total_memory_bytes = root ? root->total_memory : 0;
}

bool bk_topology_summarize(bk_topology_summary *out) {
    char error[256];
    bk_topology *t = bk_topology_open(NULL, NULL, error, sizeof error);
    if (t == NULL) {
        memset(out, 0, sizeof *out);
        return false;
    }
    bk_topology_summary_of(t, out);
    bk_topology_close(t);
    return true;
}

/* ---- binding -------------------------------------------------------------------------------- */

int bk_bind_team(bk_topology *t, const int *pu_os_index, int threads, int *observed,
                 char *error, size_t error_size) {
    if (!t->this_system) {
        snprintf(error, error_size, "the topology describes another machine; nothing to bind");
        return -1;
    }
    for (int i = 0; i < threads; i++) observed[i] = -1;
    int failed_errno = 0, failed_thread = -1;
#pragma omp parallel num_threads(threads)
    {
        const int i = omp_get_thread_num();
        if (omp_get_num_threads() == threads) {
            hwloc_bitmap_t set = hwloc_bitmap_alloc();
            hwloc_bitmap_only(set, (unsigned)pu_os_index[i]);
            if (hwloc_set_cpubind(t->hw, set, HWLOC_CPUBIND_THREAD) != 0) {
#pragma omp critical
                {
                    failed_errno = errno;
                    failed_thread = i;
                }
            } else {
                /* Verify: the kernel says where this thread runs now (it must be the planned PU). */
                hwloc_bitmap_t where = hwloc_bitmap_alloc();
                if (hwloc_get_last_cpu_location(t->hw, where, HWLOC_CPUBIND_THREAD) == 0)
                    observed[i] = hwloc_bitmap_first(where);
                hwloc_bitmap_free(where);
            }
            hwloc_bitmap_free(set);
        }
    }
    if (failed_thread >= 0) {
        snprintf(error, error_size, "binding thread %d to PU %d failed: %s", failed_thread,
                 pu_os_index[failed_thread],
                 failed_errno == ENOSYS ? "this OS does not support thread binding"
                 : failed_errno == EXDEV || failed_errno == EINVAL
                     ? "the PU is outside this process's allowed cpuset"
                     : strerror(failed_errno));
        return -1;
    }
    return 0;
}

int bk_team_locations(bk_topology *t, int threads, int *observed) {
    if (!t->this_system) return -1;
    for (int i = 0; i < threads; i++) observed[i] = -1;
#pragma omp parallel num_threads(threads)
    {
        hwloc_bitmap_t where = hwloc_bitmap_alloc();
        if (hwloc_get_last_cpu_location(t->hw, where, HWLOC_CPUBIND_THREAD) == 0)
            observed[omp_get_thread_num()] = hwloc_bitmap_first(where);
        hwloc_bitmap_free(where);
    }
    return 0;
}

int bk_unbind_team(bk_topology *t, int threads) {
    if (!t->this_system) return -1;
    int rc = 0;
    hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(t->hw);
#pragma omp parallel num_threads(threads) reduction(| : rc)
    rc |= hwloc_set_cpubind(t->hw, allowed, HWLOC_CPUBIND_THREAD) != 0;
    return rc ? -1 : 0;
}

/* ---- memory --------------------------------------------------------------------------------- */

size_t bk_numa_place_rows(bk_topology *t, void *base, size_t row_bytes, size_t rows,
                          const int *thread_numa, int threads) {
    if (!t->this_system || threads <= 0 || hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_NUMANODE) <= 1)
        return 0;
    const size_t page = 4096;
    size_t placed = 0;
    for (int i = 0; i < threads; i++) {
        /* The same contiguous row shares the kernels give each thread (bk_team_size order). */
        const size_t begin = rows * (size_t)i / (size_t)threads, end = rows * (size_t)(i + 1) / (size_t)threads;
        uintptr_t lo = ((uintptr_t)base + begin * row_bytes + page - 1) / page * page;
        uintptr_t hi = ((uintptr_t)base + end * row_bytes) / page * page;
        hwloc_obj_t node = hwloc_get_obj_by_type(t->hw, HWLOC_OBJ_NUMANODE, (unsigned)thread_numa[i]);
        if (hi <= lo || node == NULL) continue;
        if (hwloc_set_area_membind(t->hw, (void *)lo, hi - lo, node->nodeset, HWLOC_MEMBIND_BIND,
                                   HWLOC_MEMBIND_MIGRATE | HWLOC_MEMBIND_BYNODESET) == 0)
            placed += hi - lo;
    }
    return placed;
}
