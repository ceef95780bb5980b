build/obj/compute/reference.o: compute/reference.c compute/internal.h \
 compute/convtranspose.h
compute/internal.h:
compute/convtranspose.h:
