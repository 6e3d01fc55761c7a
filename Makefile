# Makefile - the one, non-recursive build of spindle.
#
#   make            build bin/spindle
#   make check      install what is missing (scripts/deps.sh), build, run every test
#   make demo       install, build, run the whole pipeline on this machine's documentation
#   make asan       the whole test suite under -fsanitize=address,undefined (same as make check SAN=1)
#   make fuzz       libFuzzer targets (clang) in build-fuzz/
#   make cuda       the CUDA trainer, when nvcc is found
#   make bench      benchmarks against the reference tools (bench/RESULTS.md)
#   make install    bin/spindle, man pages, bash completion, the Python shard reader (PREFIX, DESTDIR)
#   make uninstall  removes exactly what install wrote
#
# Every tool folder's *.c files go into libspindle.a; a folder may add flags in its module.mk.
# A tool registers its subcommand with an SP_COMMAND(...) line in its cli.c (see cli/cli.h).

.DEFAULT_GOAL := all
SHELL := /bin/bash

SAN ?=
WERROR ?= 1
BUILD := build$(if $(SAN),-san)
BIN := $(if $(SAN),$(BUILD)/bin/spindle,bin/spindle)

PKGS := libzstd sqlite3 libxml-2.0 libpcre2-8 icu-uc icu-i18n json-c libxxhash zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wvla -Wformat=2 -Wpointer-arith -Wwrite-strings
CFLAGS ?= -O2 -g
SP_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(if $(filter 1,$(WERROR)),-Werror) \
	-Ilib/include -Icli -I$(BUILD) $(PKG_CFLAGS) -MMD -MP
SP_LDLIBS := $(PKG_LIBS) -lpthread -lm
ifneq ($(SAN),)
SP_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SP_LDFLAGS += -fsanitize=address,undefined
endif

TOOL_DIRS := lib cli corpus tokenizer pack filter dedup annotate train pipeline
# Optional per-folder additions, absent is fine: SP_CFLAGS/SP_LDLIBS additions, EXTRA_OBJS (objects
# built by the folder's own rules, e.g. a C++ shim: $(BUILD)/filter/x.o from filter/x.cc), check targets.
-include $(wildcard $(addsuffix /module.mk,$(TOOL_DIRS)))

SRCS := $(filter-out cli/main.c,$(wildcard $(addsuffix /*.c,$(TOOL_DIRS))))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libspindle.a

all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SP_CFLAGS) $(CFLAGS) -c -o $@ $<

# The list of objects as a file that changes only when the list does, so removing a source file
# rebuilds the archive and the command table too.
$(BUILD)/.objs: FORCE
	@mkdir -p $(BUILD)
	@echo '$(OBJS) $(EXTRA_OBJS)' | cmp -s - $@ || echo '$(OBJS) $(EXTRA_OBJS)' > $@
FORCE:
# The link flags likewise, so a changed library (a folder's module.mk) relinks every program.
$(BUILD)/.link: FORCE
	@mkdir -p $(BUILD)
	@echo '$(SP_LDFLAGS) $(LDFLAGS) $(SP_LDLIBS) $(LDLIBS)' | cmp -s - $@ || echo '$(SP_LDFLAGS) $(LDFLAGS) $(SP_LDLIBS) $(LDLIBS)' > $@

$(BUILD)/commands.inc: $(SRCS) Makefile $(BUILD)/.objs
	@mkdir -p $(BUILD)
	@grep -h '^SP_COMMAND(' $(sort $(SRCS)) | sed 's/^SP_COMMAND(/SP_CMD_DECL(/' > $@.tmp && mv $@.tmp $@

$(BUILD)/cli/main.o: $(BUILD)/commands.inc

$(LIB): $(OBJS) $(EXTRA_OBJS) $(BUILD)/.objs
	@rm -f $@
	ar rcs $@ $(OBJS) $(EXTRA_OBJS)

$(BIN): $(BUILD)/cli/main.o $(LIB) $(BUILD)/.link
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $(filter-out $(BUILD)/.link,$^) $(SP_LDLIBS) $(LDLIBS)

# ---------------------------------------------------------------- tests
# Criterion units: a folder tests/DIR with test_*.c files becomes one binary of all its *.c files.
UNIT_DIRS := $(sort $(patsubst tests/%/,%,$(dir $(wildcard tests/*/test_*.c))))
UNIT_BINS := $(UNIT_DIRS:%=$(BUILD)/tests/%.unit)
.SECONDEXPANSION:
.SECONDARY:
unit_objs = $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/$(1)/*.c))
$(BUILD)/tests/%.unit: $$(call unit_objs,$$*) $(LIB) $(BUILD)/.link
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $(filter-out $(BUILD)/.link,$^) $(SP_LDLIBS) $(LDLIBS) -lcriterion

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SP_CFLAGS) $(CFLAGS) -Wno-missing-field-initializers -Wno-write-strings -Itests -c -o $@ $<

# Fuzz targets: tests/fuzz/fuzz_NAME.c; make check replays tests/fuzz/corpus/NAME/* through a plain driver.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%.replay)
$(BUILD)/fuzz/%.replay: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_driver.o $(LIB) $(BUILD)/.link
	@mkdir -p $(dir $@)
	$(CC) $(SP_LDFLAGS) $(LDFLAGS) -o $@ $(filter-out $(BUILD)/.link,$^) $(SP_LDLIBS) $(LDLIBS)

fuzz:
	$(MAKE) SAN= BUILD=build-fuzz CC=clang CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" $(FUZZ_NAMES:%=build-fuzz/fuzz/%)
build-fuzz/fuzz/%: build-fuzz/tests/fuzz/fuzz_%.o build-fuzz/libspindle.a
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(SP_LDLIBS) $(LDLIBS)

test-build: $(BIN) $(UNIT_BINS) $(FUZZ_REPLAY)

# The whole suite: units, fuzz corpus replays, CLI tests. Prints "N passed, N failed" last.
test: test-build
	SPINDLE=$(abspath $(BIN)) BUILD=$(BUILD) TALLY=$(TALLY) tests/run.sh $(UNIT_BINS) $(FUZZ_REPLAY)

# check: the suite on the normal build, then again under ASan+UBSan; the last line sums both passes.
check: deps
	@rm -f build/.tally
	$(MAKE) test TALLY=$(abspath build/.tally)
	$(if $(SAN),,$(MAKE) test SAN=1 TALLY=$(abspath build/.tally))
	@awk '{p+=$$1; f+=$$2; s+=$$3} END {printf "check (all passes): %d passed, %d failed, %d skipped\n", p, f, s}' build/.tally

asan: deps
	$(MAKE) test SAN=1

deps:
	@scripts/deps.sh

demo: deps
	$(MAKE) all
	scripts/demo.sh

bench: all
	bench/run.sh

# ---------------------------------------------------------------- install
# Man pages come from each command's --help (scripts/man.sh); install records every file it wrote in
# $(DESTDIR)$(PREFIX)/share/spindle/installed.txt, which uninstall reads. INSTALL_BIN=PATH installs
# an already-built program without building (the tests use it).
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_BIN ?=
MANDIR ?= $(BUILD)/man
INST := $(DESTDIR)$(PREFIX)
ibin := $(or $(INSTALL_BIN),$(BIN))

man: $(MANDIR)/pages.txt
$(MANDIR)/pages.txt: $(if $(INSTALL_BIN),,$(BIN)) scripts/man.sh
	scripts/man.sh $(ibin) $(MANDIR)

install: $(if $(INSTALL_BIN),,$(BIN)) $(MANDIR)/pages.txt
	install -d $(INST)/bin $(INST)/share/man/man1 $(INST)/share/bash-completion/completions $(INST)/share/spindle/python
	install -m 755 $(ibin) $(INST)/bin/spindle
	cd $(MANDIR) && install -m 644 $$(cat pages.txt) $(abspath $(INST))/share/man/man1/
	install -m 644 scripts/completion/spindle.bash $(INST)/share/bash-completion/completions/spindle
	install -m 644 python/spindle_shards.py $(INST)/share/spindle/python/
	{ echo bin/spindle; sed 's|^|share/man/man1/|' $(MANDIR)/pages.txt; \
	  echo share/bash-completion/completions/spindle; echo share/spindle/python/spindle_shards.py; \
	  echo share/spindle/installed.txt; } > $(INST)/share/spindle/installed.txt

uninstall:
	@test -f $(INST)/share/spindle/installed.txt || { echo "uninstall: nothing installed under $(INST)"; exit 1; }
	cd $(INST) && xargs rm -f < share/spindle/installed.txt
	-rmdir $(INST)/share/spindle/python $(INST)/share/spindle 2>/dev/null

clean:
	rm -rf build build-san build-fuzz bin

.PHONY: FORCE all test test-build check asan deps demo bench clean fuzz man install uninstall
-include $(OBJS:.o=.d) $(BUILD)/cli/main.d $(wildcard $(BUILD)/tests/*/*.d)
