build/obj/compute/dispatch.o: compute/dispatch.c compute/convtranspose.h \
 compute/kernels/igemm.h
compute/convtranspose.h:
compute/kernels/igemm.h:
