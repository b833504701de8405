#ifndef BK_CHWLOC_SHIM_H
#define BK_CHWLOC_SHIM_H
#include <hwloc.h>
#endif
