/* igemm_avx512_ymm.c - the avx512 microkernels' 8-float companion: AVX-512VL instructions on
 * 8-float vectors, with the 32 registers and so the same 24-accumulator shapes (and packed
 * weights) as igemm_avx512.c. A run of an avx512 plan whose phase rows are at most 8 outputs
 * wide takes these instead of leaving half of each 16-float vector idle. Compiled with the
 * ISA's flags (see the Makefile) and only called when the CPU supports them. */
#define CT_VL 8
#define CT_ISA avx512_ymm
#define CT_ISA_CONFIG ct__isa_avx512_ymm
#define CT_WIDE 1
#include "igemm_isa.h"
