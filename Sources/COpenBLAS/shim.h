#ifndef BK_COPENBLAS_SHIM_H
#define BK_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
