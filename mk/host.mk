# host/: the host-only library (libhpmhost.a) shared by hpm, hpm-sign,
# hpm-patchgen and the tests: durable file I/O, keys and the trust store,
# JSON, the hotpatch payload format and the x86 decoder, one status type.
HOSTLIB_SRCS   := $(wildcard host/*.c)
HOSTLIB_HDRS   := $(wildcard host/*.h)
HOSTLIB_CFLAGS := -Icore/include -Ihost
# What programs linking libhpmhost.a need besides it and core.
HOSTLIB_LIBS   := -lmbedx509 -lmbedcrypto -lZydis -lcjson

$(call library,hpmhost,host,$(HOSTLIB_SRCS),$(HOSTLIB_HDRS) $(CORE_HDRS),$(HOSTLIB_CFLAGS))

ALL_TARGETS += $(B)/host/libhpmhost.a
