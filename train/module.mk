# train/module.mk - the CPU trainer: OpenBLAS sgemm for matrix products, OpenMP threads for the rest.
SP_CFLAGS += -fopenmp
SP_LDFLAGS += -fopenmp
# OpenBLAS's serial build: the trainer runs its own threads around sgemm, and the pthread build's
# pool starts with the process and spins (sched_yield) for ~0.1 s of a core on every spindle command.
OPENBLAS_SERIAL := /usr/lib/$(shell gcc -print-multiarch)/openblas-serial
SP_LDLIBS += -L$(OPENBLAS_SERIAL) -Wl,-rpath,$(OPENBLAS_SERIAL) -lopenblas
# The CUDA trainer (issue 9/10): its rules live in train/cuda/module.mk (make cuda, make check-gpu).
-include train/cuda/module.mk
