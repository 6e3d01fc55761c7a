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

# ---------------------------------------------------------------- the emulation build (issue 16)
# The same .cu files, rewritten mechanically for their launches (emu/emu_rewrite.pl) and compiled as
# C++ by clang++ against the runtime in train/cuda/emu/, so make check runs every kernel on the CPU:
#   $(BUILD)/tests/check_gpu_emu   tests/gpu/check_gpu.c against the emulator (tests/cuda/t_emu.sh)
#   $(BUILD)/bin/spindle-emu       spindle with `--device cuda` emulated (2-rank NCCL test)
# The kernels get clang's load/store callbacks (the shared-memory race detector and lazy NaN fill).
# Under SAN=1 they and the runtime are also built with ASan (clang's instrumentation, gcc's runtime
# at link time), and device allocations become malloc blocks that ASan watches byte by byte.
# Without clang++ nothing here is built and the tests that need it skip.
EMU_CXX ?= $(shell command -v clang++ 2>/dev/null)
ifneq ($(EMU_CXX),)
EMU_DIR := $(BUILD)/emu
# the kernel sources (tests/cuda/emu_mutate.sh points this at a mutated copy, with its own EMU_DIR)
EMU_SRCDIR := train/cuda
EMU_CU := $(wildcard $(EMU_SRCDIR)/*.cu)
EMU_KOBJS := $(EMU_CU:$(EMU_SRCDIR)/%.cu=$(EMU_DIR)/k/%.o)
EMU_ROBJS := $(patsubst train/cuda/emu/%.cc,$(EMU_DIR)/rt/%.o,$(wildcard train/cuda/emu/*.cc))
EMU_HOST := $(EMU_DIR)/train/device.o $(EMU_DIR)/train/device_cuda.o
EMU_OBJS := $(EMU_KOBJS) $(EMU_ROBJS) $(EMU_HOST)
EMU_SAN := $(if $(SAN),-fsanitize=address -fno-omit-frame-pointer)
EMU_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Wno-unused-parameter $(if $(filter 1,$(WERROR)),-Werror) \
	-Itrain/cuda/emu -I$(EMU_SRCDIR) -Itrain/cuda -Itrain -Ilib/include $(EMU_SAN) -DEMU_RACECHECK=1 \
	-I$(firstword $(wildcard /usr/include/*/openblas-pthread) /usr/include)
EMU_DEPS := $(wildcard $(EMU_SRCDIR)/*.cuh $(EMU_SRCDIR)/*.h train/cuda/emu/*.h) train/model.h train/device.h
EMU_LIBS := -lstdc++ -lrt

$(EMU_DIR)/k/%.emu.cc: $(EMU_SRCDIR)/%.cu train/cuda/emu/emu_rewrite.pl
	@mkdir -p $(dir $@)
	perl train/cuda/emu/emu_rewrite.pl $< > $@.tmp && mv $@.tmp $@

$(EMU_DIR)/k/%.o: $(EMU_DIR)/k/%.emu.cc $(EMU_DEPS)
	$(EMU_CXX) $(EMU_CXXFLAGS) -fsanitize-coverage=edge,trace-loads,trace-stores -c -o $@ $<

$(EMU_DIR)/rt/%.o: train/cuda/emu/%.cc $(EMU_DEPS)
	@mkdir -p $(dir $@)
	$(EMU_CXX) $(EMU_CXXFLAGS) -c -o $@ $<

$(EMU_DIR)/train/%.o: train/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SP_CFLAGS) $(CFLAGS) -DSPINDLE_CUDA -Itrain -c -o $@ $<

$(BUILD)/tests/check_gpu_emu $(EMU_DIR)/check_gpu: $(BUILD)/tests/gpu/check_gpu.o $(EMU_OBJS) $(BUILD)/libspindle.a $(BUILD)/.link
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $(filter-out $(BUILD)/.link,$^) $(SP_LDLIBS) $(LDLIBS) $(EMU_LIBS)

$(BUILD)/bin/spindle-emu: $(BUILD)/cli/main.o $(EMU_OBJS) $(BUILD)/libspindle.a $(BUILD)/.link
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $(filter-out $(BUILD)/.link,$^) $(SP_LDLIBS) $(LDLIBS) $(EMU_LIBS)

# the emulator's own tests: wrong kernels it must catch (tests/cuda/t_emu_detect.sh)
$(EMU_DIR)/selftest/%.emu.cc: tests/cuda/emu/%.cu train/cuda/emu/emu_rewrite.pl
	@mkdir -p $(dir $@)
	perl train/cuda/emu/emu_rewrite.pl $< > $@.tmp && mv $@.tmp $@

$(EMU_DIR)/selftest/%.o: $(EMU_DIR)/selftest/%.emu.cc $(EMU_DEPS)
	$(EMU_CXX) $(EMU_CXXFLAGS) -fsanitize-coverage=edge,trace-loads,trace-stores -c -o $@ $<

$(BUILD)/tests/emu_selftest: $(EMU_DIR)/selftest/emu_bugs.o $(EMU_ROBJS) $(BUILD)/libspindle.a $(BUILD)/.link
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $(filter-out $(BUILD)/.link,$^) $(SP_LDLIBS) $(LDLIBS) $(EMU_LIBS)

test-build: $(BUILD)/tests/check_gpu_emu $(BUILD)/tests/emu_selftest $(if $(SAN),,$(BUILD)/bin/spindle-emu)
-include $(wildcard $(EMU_DIR)/train/*.d)
endif
