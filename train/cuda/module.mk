# train/cuda/module.mk - the CUDA flavour of the build (issues 9 and 10), included by train/module.mk.
#
#   make cuda        bin/spindle-cuda: every tool plus `spindle train --device cuda`, objects in build-cuda/
#                    (the same sources compiled with -DSPINDLE_CUDA, plus train/cuda/*.cu by nvcc)
#   (and build-cuda/bench/gpu_bench, the step timer bench/gpu/run.sh uses)
#   make check-gpu   build-cuda/tests/check_gpu: every CUDA kernel and the whole model against the CPU
#                    twins; prints SKIP and succeeds when nvcc or a GPU is missing
#
# The plain build (make, make check) never runs nvcc: without SPINDLE_CUDA=1 nothing below the
# targets is defined, and train/device_cuda.c compiles to nothing.

CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard $(CUDA_HOME)/bin/nvcc))
CUDA_ARCH ?= -gencode arch=compute_90,code=[sm_90,compute_90]
NVCC_FLAGS ?= -O3 -std=c++17 $(CUDA_ARCH) -lineinfo -Xcompiler -Wall,-Wextra -Werror all-warnings
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lnccl -lcublasLt -lcublas -lcudart -lstdc++

ifeq ($(SPINDLE_CUDA),1)
SP_CFLAGS += -DSPINDLE_CUDA -I$(CUDA_HOME)/include
SP_LDLIBS += $(CUDA_LIBS)
CUDA_SRCS := $(wildcard train/cuda/*.cu)
EXTRA_OBJS += $(CUDA_SRCS:%.cu=$(BUILD)/%.o)

$(BUILD)/train/cuda/%.o: train/cuda/%.cu $(wildcard train/cuda/*.cuh train/cuda/*.h) train/model.h train/device.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Itrain -Ilib/include -c -o $@ $<

$(BUILD)/tests/check_gpu: $(BUILD)/tests/gpu/check_gpu.o $(BUILD)/libspindle.a
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(SP_LDLIBS) $(LDLIBS)

$(BUILD)/bench/gpu_bench: $(BUILD)/bench/gpu/bench_step.o $(BUILD)/libspindle.a
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $^ $(SP_LDLIBS) $(LDLIBS)
endif

cuda:
	@if [ -z "$(NVCC)" ]; then echo "make cuda: nvcc not found (set CUDA_HOME or NVCC); nothing built"; exit 1; fi
	$(MAKE) SPINDLE_CUDA=1 BUILD=build-cuda BIN=bin/spindle-cuda NVCC=$(NVCC) bin/spindle-cuda build-cuda/tests/check_gpu build-cuda/bench/gpu_bench

check-gpu:
	@if [ -z "$(NVCC)" ]; then echo "check-gpu: SKIP: nvcc not found, the CUDA trainer cannot be built here"; exit 0; fi; \
	$(MAKE) cuda && build-cuda/tests/check_gpu

.PHONY: cuda check-gpu

clean-cuda:
	rm -rf build-cuda bin/spindle-cuda
.PHONY: clean-cuda
