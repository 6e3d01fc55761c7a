# train/module.mk - the CPU trainer: OpenBLAS sgemm for matrix products, OpenMP threads for the rest.
SP_CFLAGS += -fopenmp
SP_LDFLAGS += -fopenmp
SP_LDLIBS += -lopenblas
