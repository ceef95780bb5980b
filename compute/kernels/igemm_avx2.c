/* igemm_avx2.c - the avx2 microkernels: 8 floats per vector. This file is compiled with the
 * ISA's flags (see the Makefile) and only called when the CPU supports them. */
#define CT_VL 8
#define CT_ISA avx2
#define CT_ISA_CONFIG ct__isa_avx2
#include "igemm_isa.h"
