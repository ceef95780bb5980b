build/obj/tests/test_seed_layers.o: tests/test_seed_layers.c \
 compute/convtranspose.h tests/test.h
compute/convtranspose.h:
tests/test.h:
