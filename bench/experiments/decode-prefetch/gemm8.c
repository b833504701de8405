/* gemm8.c — per-call times of the ternary GEMM (warm, one thread) against the same core's
 * VPDPBUSD peak (bk_measure_vpdpbusd_peak). Usage: gemm8 ROWS COLS TOKENS ISA CALLS [shift] [f32]
 * (shift: the AVX-512 eight-token tile's shift decode even on a GFNI CPU; f32: the float product
 * bk_ternary_matmul_f32, inference's, instead of the int32 one). Build from the repository root:
 * clang -O3 -std=gnu11 -fopenmp -DNDEBUG -Iinclude -ICKernels $(pkg-config --cflags hwloc) \
 *   CKernels/[a-z]*.c bench/experiments/decode-prefetch/gemm8.c -o gemm8 $(pkg-config --libs hwloc) \
 *   -L/usr/lib/llvm-14/lib -fopenmp=libomp -Wl,-rpath,/usr/lib/llvm-14/lib -lm */
#define _GNU_SOURCE
#include "bitkernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  size_t rows=atol(argv[1]),cols=atol(argv[2]),n=atol(argv[3]);const char*isa=argv[4];int calls=atoi(argv[5]);
  int f32=0;for(int a=6;a<argc;a++){if(!strcmp(argv[a],"shift"))bk_ternary_set_gfni_decode(false);else if(!strcmp(argv[a],"f32"))f32=1;}
  bk_isa id; bk_isa_from_name(isa,&id); const bk_kernels*k=bk_kernels_for(id);
  size_t bc=bk_ternary_block_count(cols), bytes=bk_ternary_packed_bytes(rows,cols);
  uint8_t*m=aligned_alloc(64,bytes);for(size_t j=0;j<bytes;j++)m[j]=(uint8_t)(j*2654435761u>>13)&0x55|0x40;
  float*sc=malloc(rows*4);for(size_t i=0;i<rows;i++)sc[i]=1;
  int8_t*x=aligned_alloc(64,n*bc*256);for(size_t i=0;i<n*bc*256;i++)x[i]=(int8_t)(i*7);int32_t*xs=calloc(n,4);float*xsc=malloc(n*4);for(size_t i=0;i<n;i++)xsc[i]=1.5f;
  int32_t*out=aligned_alloc(64,rows*n*4+64);
  double*t=malloc(calls*8);
  for(int r=0;r<calls;r++){double t0=now();bk_ternary_matrix w={m,rows,cols,bc,sc};if(f32)bk_ternary_matmul_f32(k,&w,x,bc*256,xs,xsc,n,(float*)out,rows,1);else bk_ternary_matmul_i32(k,&w,x,bc*256,xs,n,out,rows,1);t[r]=now()-t0;}
  qsort(t,calls,8,cmp);
  double peak512=bk_measure_vpdpbusd_peak(BK_ISA_AVX512,0.3), peak256=bk_measure_vpdpbusd_peak(BK_ISA_AVXVNNI,0.3);
  double macs=(double)rows*bc*256*n;
  printf("%s%s%s %zux%zu n=%zu: p10 %.1f us (%.1f G MAC/s) p50 %.1f us (%.1f G MAC/s); peak zmm %.1f G/s, ymm %.1f G/s -> p10 %.0f%% of zmm peak, %.0f%% of ymm\n",
    isa,bk_ternary_gfni_decode()?"+gfni":"",f32?" f32":"",rows,cols,n,t[calls/10]*1e6,macs/t[calls/10]/1e9,t[calls/2]*1e6,macs/t[calls/2]/1e9,peak512/1e9,peak256/1e9,100*macs/t[calls/10]/peak512,100*macs/t[calls/10]/peak256);
}
