/* isa_vl16.c - the kernel template built with 16-float vectors and the wide shapes (the AVX-512
 * tiling) but for whatever the test binary is compiled for: GCC lowers each 64-byte vector to
 * narrower instructions. The differential test runs it on CPUs without AVX-512, so the VL = 16
 * paths (tile geometry, zips, segment widths, spare columns) are checked here too; only the
 * instruction selection of the real AVX-512 build is left to the compiler. */
#define CT_VL 16
#define CT_ISA vl16
#define CT_ISA_CONFIG ct__isa_vl16
#define CT_WIDE 1
#define CT_ISA_ROWS8 ct__isa_vl8_wide
#include "kernels/igemm_isa.h"
