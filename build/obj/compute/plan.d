build/obj/compute/plan.o: compute/plan.c compute/internal.h \
 compute/convtranspose.h compute/kernels/igemm.h
compute/internal.h:
compute/convtranspose.h:
compute/kernels/igemm.h:
