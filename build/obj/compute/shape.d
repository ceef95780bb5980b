build/obj/compute/shape.o: compute/shape.c compute/internal.h \
 compute/convtranspose.h
compute/internal.h:
compute/convtranspose.h:
