/*
 * bitkernels.h — the public C interface of BitKernels: one header per area, all included here.
 *
 * Plain C11, no intrinsics, no OpenMP or hwloc headers: usable from C programs and imported by
 * the Swift `BitKernels` module (through this header only).
 *
 *   bitkernels/kernels.h   bit-vector layout, CPU features, the kernel table and its dispatch,
 *                          random masks, scoring
 *   bitkernels/matrices.h  the packed ternary layout, token quantization, ternary/binary/float
 *                          matrix products
 *   bitkernels/formats.h   TQ2_0, TQ1_0, I2_S and Hugging Face ternary weights; fp16/bf16
 *   bitkernels/topology.h  hwloc topology, thread binding, NUMA placement of rows
 *   bitkernels/machine.h   yardsticks: read bandwidth, POPCNT loops, core clock, OpenMP team
 */
#ifndef BITKERNELS_H
#define BITKERNELS_H

#include "bitkernels/kernels.h"
#include "bitkernels/matrices.h"
#include "bitkernels/formats.h"
#include "bitkernels/topology.h"
#include "bitkernels/machine.h"

#endif /* BITKERNELS_H */
