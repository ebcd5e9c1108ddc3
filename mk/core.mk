# core/: the freestanding verification library, host and sanitizer builds.
# (The EFI build of the same sources is in mk/efi.mk.)
CORE_SRCS    := $(wildcard core/*.c)
CORE_HDRS    := $(wildcard core/include/hpm/*.h core/*.h)
CORE_CFLAGS  := -Icore/include
HOST_LIBS    := -lmbedcrypto -lfdt -lcrypto

$(call library,hpmcore,core,$(CORE_SRCS) core/sysdeps/posix.c,$(CORE_HDRS),$(CORE_CFLAGS))

ALL_TARGETS += $(B)/host/libhpmcore.a
