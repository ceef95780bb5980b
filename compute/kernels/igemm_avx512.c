/* igemm_avx512.c - the avx512 microkernels: 16 floats per vector. This file is compiled with the
 * ISA's flags (see the Makefile) and only called when the CPU supports them. */
#define CT_VL 16
#define CT_ISA avx512
#define CT_ISA_CONFIG ct__isa_avx512
#include "igemm_isa.h"
