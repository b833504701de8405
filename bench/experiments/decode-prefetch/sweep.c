/* sweep.c — per-call times of the ternary GEMV from DRAM against the summing loop over the same
 * matrices (same pages), modes interleaved pass by pass; reports p10/p25/p50 per mode.
 * Usage: sweep ROWS COLS THREADS HUGE(0|1) ISA PASSES MODE... where MODE -1 is the summing loop
 * (bk_read_sum_parallel) over each matrix and MODE >= 0 the GEMV with that prefetch distance.
 * Per-call times, not a mean over many calls: on a loaded 2-core VM most calls of a long sample
 * wait for a core, and the fast calls are the ones that ran undisturbed. HUGE=1 allocates at 2 MiB
 * and madvise(MADV_HUGEPAGE)s every matrix. */
#define _GNU_SOURCE
#include "bitkernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
static void *alloc(size_t bytes,int huge){void*p=NULL;size_t al=huge?(2u<<20):64;size_t sz=(bytes+al-1)/al*al;posix_memalign(&p,al,sz);if(huge)madvise(p,sz,MADV_HUGEPAGE);memset(p,0x55,sz);return p;}
int main(int argc,char**argv){
  size_t rows=atol(argv[1]),cols=atol(argv[2]);int threads=atoi(argv[3]);int huge=atoi(argv[4]);
  const char*isa=argv[5]; int passes=atoi(argv[6]);
  bk_isa id; bk_isa_from_name(isa,&id); const bk_kernels*k=bk_kernels_for(id);
  size_t bc=bk_ternary_block_count(cols), bytes=bk_ternary_packed_bytes(rows,cols);
  size_t total=600u<<20; size_t copies=total/bytes+1;
  uint8_t**m=malloc(copies*sizeof*m);
  for(size_t i=0;i<copies;i++){m[i]=alloc(bytes,huge);for(size_t j=0;j<bytes;j++)m[i][j]=(uint8_t)(j*2654435761u>>13)&0x55|0x40;}
  float*sc=malloc(rows*4);for(size_t i=0;i<rows;i++)sc[i]=1;
  int8_t*x=alloc(bc*256,0);for(size_t i=0;i<bc*256;i++)x[i]=(int8_t)(i*7);int32_t xs=0;
  int32_t*out=alloc(rows*4,0);
  int nm=argc-7; long pfs[32]; for(int a=0;a<nm;a++)pfs[a]=atol(argv[7+a]);
  size_t n=copies*passes; double*t=malloc(sizeof(double)*nm*n);
  for(int p=0;p<passes;p++) for(int a=0;a<nm;a++){
    if(pfs[a]>=0) bk_stream_prefetch_set_distance(pfs[a]);
    for(size_t i=0;i<copies;i++){double t0=now();
      if(pfs[a]<0){volatile uint64_t v=bk_read_sum_parallel((const uint64_t*)m[i],bytes/8,threads);(void)v;}
      else {bk_ternary_matrix w={m[i],rows,cols,bc,sc};bk_ternary_matmul_i32(k,&w,x,bc*256,&xs,1,out,rows,threads);}
      t[a*n+p*copies+i]=now()-t0;}
  }
  for(int a=0;a<nm;a++){double*s=t+a*n;qsort(s,n,8,cmp);
    printf("%-7s %5zux%-5zu t%d huge%d pf%-5ld p10 %7.1f us %5.1f GB/s | p25 %5.1f | p50 %5.1f GB/s\n",pfs[a]<0?"readsum":isa,rows,cols,threads,huge,pfs[a],s[n/10]*1e6,bytes/s[n/10]/1e9,bytes/s[n/4]/1e9,bytes/s[n/2]/1e9);}
}
