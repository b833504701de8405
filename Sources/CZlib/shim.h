#ifndef BK_CZLIB_SHIM_H
#define BK_CZLIB_SHIM_H
#include <zlib.h>
#endif
