/* igemm_instance.h - one microkernel: the template instantiated for the CT_MR and CT_NV the
 * includer defines (igemm_shape.h, once per kernel); it undefines CT_NV after. */
#define CT_KNAME CT_KERNEL_NAME(CT_MR, CT_NV, CT_ISA)
#include "igemm_template.h"
#undef CT_KNAME
#undef CT_NV
