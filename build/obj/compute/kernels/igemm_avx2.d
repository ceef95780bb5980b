build/obj/compute/kernels/igemm_avx2.o: compute/kernels/igemm_avx2.c \
 compute/kernels/igemm_isa.h compute/kernels/igemm.h \
 compute/kernels/igemm_template.h
compute/kernels/igemm_isa.h:
compute/kernels/igemm.h:
compute/kernels/igemm_template.h:
