# mk/patchgen.mk: hpm-patchgen, the payload builder (tools/hpm-patchgen,
# docs/hotpatch-authoring.md).  Links core and the host library (payload
# format, x86 decoder); never runs on hosts.
PATCHGEN_SRCS := $(wildcard tools/hpm-patchgen/*.c)
PATCHGEN_HDRS := $(wildcard tools/hpm-patchgen/*.h)

$(B)/host/tools/hpm-patchgen/%.o: tools/hpm-patchgen/%.c $(PATCHGEN_HDRS) $(HOSTLIB_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(HOSTLIB_CFLAGS) -c $< -o $@

$(B)/tools/hpm-patchgen: $(patsubst tools/hpm-patchgen/%.c,$(B)/host/tools/hpm-patchgen/%.o,$(PATCHGEN_SRCS)) \
                         $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a \
	  $(HOSTLIB_LIBS) -lfdt -lcrypto -lelf -ldw

ALL_TARGETS += $(B)/tools/hpm-patchgen
