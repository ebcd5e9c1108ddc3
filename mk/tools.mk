# tools/: release-engineering tools (host only).
HPMW_SRCS := $(wildcard tools/lib/*.c)
HPMW_HDRS := $(wildcard tools/lib/*.h)
TOOLS_CFLAGS := -Icore/include -Itools/lib

$(B)/host/tools/lib/%.o: tools/lib/%.c $(HPMW_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(TOOLS_CFLAGS) -c $< -o $@
$(B)/host/libhpmw.a: $(patsubst tools/lib/%.c,$(B)/host/tools/lib/%.o,$(HPMW_SRCS))
	@rm -f $@
	ar rcs $@ $^

$(B)/san/tools/lib/%.o: tools/lib/%.c $(HPMW_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(TOOLS_CFLAGS) -c $< -o $@
$(B)/san/libhpmw.a: $(patsubst tools/lib/%.c,$(B)/san/tools/lib/%.o,$(HPMW_SRCS))
	@rm -f $@
	ar rcs $@ $^

# Libraries the writer needs beyond core's.
HPMW_LIBS := -lmbedtls -lmbedx509 -lmbedcrypto -lfdt

ALL_TARGETS += $(B)/host/libhpmw.a
