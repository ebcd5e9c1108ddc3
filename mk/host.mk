# host/: the host-only library (libhpmhost.a) shared by hpm, hpm-sign,
# hpm-patchgen and the tests: durable file I/O, keys and the trust store,
# JSON, the hotpatch payload format and the x86 decoder, one status type.
HOSTLIB_SRCS   := $(wildcard host/*.c)
HOSTLIB_HDRS   := $(wildcard host/*.h)
HOSTLIB_CFLAGS := -Icore/include -Ihost
# What programs linking libhpmhost.a need besides it and core.
HOSTLIB_LIBS   := -lmbedx509 -lmbedcrypto -lZydis -lcjson

$(B)/host/host/%.o: host/%.c $(HOSTLIB_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(HOSTLIB_CFLAGS) -c $< -o $@
$(B)/host/libhpmhost.a: $(patsubst host/%.c,$(B)/host/host/%.o,$(HOSTLIB_SRCS))
	@rm -f $@
	ar rcs $@ $^

$(B)/san/host/%.o: host/%.c $(HOSTLIB_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(HOSTLIB_CFLAGS) -c $< -o $@
$(B)/san/libhpmhost.a: $(patsubst host/%.c,$(B)/san/host/%.o,$(HOSTLIB_SRCS))
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(B)/host/libhpmhost.a
