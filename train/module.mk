# train/module.mk - the CPU trainer: OpenBLAS sgemm for matrix products, OpenMP threads for the rest.
SP_CFLAGS += -fopenmp
# The trainer's elementwise loops (AdamW's sqrtf, vexp.h's e^x with its clamps) vectorize only without
# errno to set and without trapping compares (PyTorch builds with the same two flags), and with a cost
# model that allows a scalar epilogue. Only train/ objects get these.
$(BUILD)/train/%.o: CFLAGS += -fno-math-errno -fno-trapping-math -fvect-cost-model=dynamic
SP_LDFLAGS += -fopenmp
# OpenBLAS's serial build: the trainer runs its own threads around sgemm, and the pthread build's
# pool starts with the process and spins (sched_yield) for ~0.1 s of a core on every spindle command.
# (Debian's libopenblas-serial-dev; without it, the default OpenBLAS.)
comma := ,
OPENBLAS_SERIAL := $(firstword $(wildcard /usr/lib/*/openblas-serial))
SP_LDLIBS += $(if $(OPENBLAS_SERIAL),-L$(OPENBLAS_SERIAL) -Wl$(comma)-rpath$(comma)$(OPENBLAS_SERIAL)) -lopenblas
# The CUDA trainer (issue 9/10): its rules live in train/cuda/module.mk (make cuda, make check-gpu).
-include train/cuda/module.mk
