/* igemm_shape.h - the kernels of one tile shape: CT_MR x 1 .. CT_MR x CT_SHAPE_NV_MAX, each the
 * template instantiated once (igemm_instance.h); igemm_isa.h includes this once per shape,
 * and it undefines CT_MR and CT_SHAPE_NV_MAX after. */
#if CT_SHAPE_NV_MAX >= 1
#define CT_NV 1
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 2
#define CT_NV 2
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 3
#define CT_NV 3
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 4
#define CT_NV 4
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 5
#define CT_NV 5
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 6
#define CT_NV 6
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 7
#define CT_NV 7
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 8
#define CT_NV 8
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 9
#define CT_NV 9
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 10
#define CT_NV 10
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 11
#define CT_NV 11
#include "igemm_instance.h"
#endif
#if CT_SHAPE_NV_MAX >= 12
#define CT_NV 12
#include "igemm_instance.h"
#endif
#undef CT_MR
#undef CT_SHAPE_NV_MAX
