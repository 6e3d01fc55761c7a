# train/module.mk - the CPU trainer: OpenBLAS sgemm for matrix products, OpenMP threads for the rest.
SP_CFLAGS += -fopenmp
# The trainer's elementwise loops (AdamW's sqrtf, vexp.h's e^x with its clamps) vectorize only without
# errno to set and without trapping compares (PyTorch builds with the same two flags), and with a cost
# model that allows a scalar epilogue. Only train/ objects get these.
$(BUILD)/train/%.o: CFLAGS += -fno-math-errno -fno-trapping-math -fvect-cost-model=dynamic
SP_LDFLAGS += -fopenmp
# OpenBLAS's pthread build, named explicitly: the trainer calls sgemm from several OpenMP threads at
# once, which this build's locking makes safe (the serial build is not safe: results changed now and
# then; the OpenMP build serialises such calls: no speed-up from threads). cli/main.c limits it to
# one thread of its own before it starts (its pool would spin at every spindle command's start).
# (Debian's libopenblas-pthread-dev, which libopenblas-dev pulls in; without it, the default.)
comma := ,
OPENBLAS_DIR := $(firstword $(wildcard /usr/lib/*/openblas-pthread))
SP_LDLIBS += $(if $(OPENBLAS_DIR),-L$(OPENBLAS_DIR) -Wl$(comma)-rpath$(comma)$(OPENBLAS_DIR)) -lopenblas
# Data parallelism across processes (issue 18): Open MPI (Debian's libopenmpi-dev), a normal
# dependency of the CPU build; train/dist_mpi.c is the only file that calls it.
SP_CFLAGS += $(shell pkg-config --cflags ompi-c)
SP_LDLIBS += $(shell pkg-config --libs ompi-c)
# The CUDA trainer (issue 9/10): its rules live in train/cuda/module.mk (make cuda, make check-gpu).
-include train/cuda/module.mk
