/* igemm_avx512.c - the avx512 microkernels: 16 floats per vector, the 24-accumulator shapes of
 * 32 registers. This file is compiled with the ISA's flags (see the Makefile) and only called
 * when the CPU supports them. */
#define CT_VL 16
#define CT_ISA avx512
#define CT_ISA_CONFIG ct__isa_avx512
#define CT_WIDE 1
#define CT_ISA_ROWS8 ct__isa_avx512_ymm
#include "igemm_isa.h"
