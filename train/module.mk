# train/module.mk - the CPU trainer: OpenBLAS sgemm for matrix products, OpenMP threads for the rest.
SP_CFLAGS += -fopenmp
# The trainer's elementwise loops (AdamW's sqrtf, vexp.h's e^x with its clamps) vectorize only without
# errno to set and without trapping compares (PyTorch builds with the same two flags), and with a cost
# model that allows a scalar epilogue. Only train/ objects get these.
$(BUILD)/train/%.o: CFLAGS += -fno-math-errno -fno-trapping-math -fvect-cost-model=dynamic
SP_LDFLAGS += -fopenmp
# OpenBLAS's OpenMP build: the trainer calls sgemm from inside its own OpenMP regions, where this
# build runs single-threaded and is safe to call concurrently (the serial build is not: concurrent
# calls raced and changed results now and then), and it starts no thread pool of its own (the
# pthread build's pool starts with every spindle command and spins ~0.1 s of each core).
# (Debian's libopenblas-openmp-dev; without it, the default OpenBLAS.)
comma := ,
OPENBLAS_DIR := $(firstword $(wildcard /usr/lib/*/openblas-openmp))
SP_LDLIBS += $(if $(OPENBLAS_DIR),-L$(OPENBLAS_DIR) -Wl$(comma)-rpath$(comma)$(OPENBLAS_DIR)) -lopenblas
# The CUDA trainer (issue 9/10): its rules live in train/cuda/module.mk (make cuda, make check-gpu).
-include train/cuda/module.mk
