/* igemm_generic.c - the generic microkernels: 8 floats per vector. This file is compiled with the
 * ISA's flags (see the Makefile) and only called when the CPU supports them. */
#define CT_VL 8
#define CT_ISA generic
#define CT_ISA_CONFIG ct__isa_generic
#include "igemm_isa.h"
