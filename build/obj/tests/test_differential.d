build/obj/tests/test_differential.o: tests/test_differential.c \
 compute/convtranspose.h compute/kernels/igemm.h tests/test.h
compute/convtranspose.h:
compute/kernels/igemm.h:
tests/test.h:
