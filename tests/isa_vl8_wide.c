/* isa_vl8_wide.c - the 8-float companion of isa_vl16.c: the 24-accumulator shapes with 8-float
 * vectors, built for whatever the test binary is compiled for, as avx512_ymm is for AVX-512.
 * Runs of the vl16 config whose phase rows are at most 8 wide take it, so that path is
 * checked on CPUs without AVX-512 too. */
#define CT_VL 8
#define CT_ISA vl8_wide
#define CT_ISA_CONFIG ct__isa_vl8_wide
#define CT_WIDE 1
#include "kernels/igemm_isa.h"
