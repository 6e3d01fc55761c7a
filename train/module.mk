# train/module.mk - the CPU trainer: OpenBLAS sgemm for matrix products, OpenMP threads for the rest.
SP_CFLAGS += -fopenmp
SP_LDFLAGS += -fopenmp
SP_LDLIBS += -lopenblas
# The CUDA trainer (issue 9/10): its rules live in train/cuda/module.mk (make cuda, make check-gpu).
-include train/cuda/module.mk
