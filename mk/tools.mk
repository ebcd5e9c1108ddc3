# tools/: release-engineering tools (host only).
HPMW_SRCS := $(wildcard tools/lib/*.c)
HPMW_HDRS := $(wildcard tools/lib/*.h)
TOOLS_CFLAGS := -Icore/include -Ihost -Itools/lib

$(call library,hpmw,tools/lib,$(HPMW_SRCS),$(HPMW_HDRS) $(HOSTLIB_HDRS) $(CORE_HDRS),$(TOOLS_CFLAGS))

# Libraries the writer needs beyond core's (and libhpmhost's: its JSON
# helpers are cJSON's; HOSTLIB_LIBS would be their place).
HPMW_LIBS := -lmbedtls -lmbedx509 -lmbedcrypto -lfdt -lcrypto -lZydis -lcjson
# hpm-sign alone: its release files are INI (tools/hpm-sign/release_file.c).
HPM_SIGN_LIBS := -linih

ALL_TARGETS += $(B)/host/libhpmw.a

# hpm-sign: the release engineers' tool (docs/hpm-sign.md).
HPM_SIGN_SRCS := $(wildcard tools/hpm-sign/*.c)
HPM_SIGN_HDRS := $(wildcard tools/hpm-sign/*.h)
HPM_SIGN_CFLAGS := $(TOOLS_CFLAGS) -Itools/hpm-sign

$(B)/host/tools/hpm-sign/%.o: tools/hpm-sign/%.c $(HPM_SIGN_HDRS) $(HPMW_HDRS) $(HOSTLIB_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(HPM_SIGN_CFLAGS) -c $< -o $@
$(B)/tools/hpm-sign: $(patsubst tools/hpm-sign/%.c,$(B)/host/tools/hpm-sign/%.o,$(HPM_SIGN_SRCS)) $(B)/host/libhpmw.a $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) $(B)/host/libhpmw.a $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(HPMW_LIBS) $(HPM_SIGN_LIBS)

# The same tool under ASan+UBSan, for running the CLI tests against:
#   make $(B)/san/tools/hpm-sign/hpm-sign && HPM_SIGN=build/san/tools/hpm-sign/hpm-sign python3 -m pytest tests/cli
$(B)/san/tools/hpm-sign/%.o: tools/hpm-sign/%.c $(HPM_SIGN_HDRS) $(HPMW_HDRS) $(HOSTLIB_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(HPM_SIGN_CFLAGS) -c $< -o $@
$(B)/san/tools/hpm-sign/hpm-sign: $(patsubst tools/hpm-sign/%.c,$(B)/san/tools/hpm-sign/%.o,$(HPM_SIGN_SRCS)) $(B)/san/libhpmw.a $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a
	$(CC) $(SAN_CFLAGS) -o $@ $(filter %.o,$^) $(B)/san/libhpmw.a $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a $(HPMW_LIBS) $(HPM_SIGN_LIBS)

ALL_TARGETS += $(B)/tools/hpm-sign
