/* igemm_instance.h - one microkernel: the template instantiated for the CT_MR and CT_NV the
 * includer defines (igemm_isa.h includes this once per tile shape), which it then undefines. */
#define CT_KNAME CT_KERNEL_NAME(CT_MR, CT_NV, CT_ISA)
#include "igemm_template.h"
#undef CT_KNAME
#undef CT_MR
#undef CT_NV
