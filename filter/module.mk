# filter/module.mk - the CLD2 shim (C++) of `spindle filter`, linked into libspindle.a, and libbrotli.
FILTER_CXX_OBJS := $(patsubst %.cc,$(BUILD)/%.o,$(wildcard filter/*.cc))
FILTER_CXXFLAGS := -std=c++11 -O2 -g -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror)
ifneq ($(SAN),)
FILTER_CXXFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
EXTRA_OBJS += $(FILTER_CXX_OBJS)
SP_LDLIBS += -lcld2 -lstdc++
# brotli for HTTP bodies sent with Content-Encoding: br (extract_decode.c)
SP_CFLAGS += $(shell pkg-config --cflags libbrotlidec 2>/dev/null)
SP_LDLIBS += $(shell pkg-config --libs libbrotlidec 2>/dev/null || echo -lbrotlidec)
$(BUILD)/filter/%.o: filter/%.cc filter/filter_lang.h
	@mkdir -p $(dir $@)
	$(CXX) $(FILTER_CXXFLAGS) $(CXXFLAGS) -c -o $@ $<
