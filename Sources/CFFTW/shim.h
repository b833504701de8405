#ifndef BK_CFFTW_SHIM_H
#define BK_CFFTW_SHIM_H
#include <fftw3.h>
#endif
