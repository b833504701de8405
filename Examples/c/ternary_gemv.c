/* A C program using the installed BitKernels library: the best kernel table for this CPU, a
 * Hamming distance, and an exact ternary GEMV checked against a plain loop.
 *   cc ternary_gemv.c $(pkg-config --cflags --libs bitkernels) -o ternary_gemv && ./ternary_gemv */
#include <bitkernels.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const bk_kernels *k = bk_kernels_best();
    if (!k) {
        fprintf(stderr, "error: %s\n", bk_kernels_best_error());
        return 1;
    }
    printf("kernels: %s\n", bk_isa_name(k->isa));

    /* Hamming distance of two 128-bit vectors: bits 0..9 against bits 5..14 differ in 10 places. */
    uint64_t a[2] = {0x3FF, 0}, b[2] = {0x7FE0, 0};
    bk_pair_counts c = k->pair_counts(a, b, 2);
    printf("shared %u, differing %u\n", (unsigned)c.and_count, (unsigned)c.xor_count);

    /* y = W x for a 6 × 300 ternary matrix and one int8 token, exactly in int32. */
    enum { ROWS = 6, COLS = 300 };
    int8_t w[ROWS * COLS];
    int8_t x[512] = {0}; /* a token is padded with zeros to whole 256-value blocks */
    for (int i = 0; i < ROWS * COLS; i++) w[i] = (int8_t)((i * 7 + i / 13) % 3 - 1);
    for (int i = 0; i < COLS; i++) x[i] = (int8_t)((i * 37) % 255 - 127);
    size_t blocks = bk_ternary_block_count(COLS);
    uint8_t *packed = aligned_alloc(64, bk_ternary_packed_bytes(ROWS, COLS));
    if (!packed || bk_ternary_pack(w, ROWS, COLS, packed) != -1) return 1;
    int32_t sum = 0;
    for (int i = 0; i < COLS; i++) sum += x[i];
    float scales[ROWS] = {1, 1, 1, 1, 1, 1};
    bk_ternary_matrix m = {packed, ROWS, COLS, blocks, scales};
    int32_t y[ROWS];
    bk_ternary_matmul_i32(k, &m, x, blocks * BK_TERNARY_BLOCK, &sum, 1, y, ROWS, 1);
    int wrong = 0;
    for (int r = 0; r < ROWS; r++) {
        int32_t expect = 0;
        for (int i = 0; i < COLS; i++) expect += w[r * COLS + i] * x[i];
        printf("row %d: %d (plain loop %d)\n", r, y[r], expect);
        wrong += y[r] != expect;
    }
    free(packed);
    if (c.and_count != 5 || c.xor_count != 10 || wrong) {
        fprintf(stderr, "error: results differ from the plain loop\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
