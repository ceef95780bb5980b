build/obj/compute/status.o: compute/status.c compute/internal.h \
 compute/convtranspose.h
compute/internal.h:
compute/convtranspose.h:
