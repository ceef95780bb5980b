build/obj/compute/kernels/igemm_generic.o: \
 compute/kernels/igemm_generic.c compute/kernels/igemm_isa.h \
 compute/kernels/igemm.h compute/kernels/igemm_template.h
compute/kernels/igemm_isa.h:
compute/kernels/igemm.h:
compute/kernels/igemm_template.h:
