# core/: the freestanding verification library, host builds.
# (The EFI build of the same sources is in mk/efi.mk.)
#   $(B)/host/libhpmcore.a   for hpm and the tools
#   $(B)/san/libhpmcore.a    ASan+UBSan, for the unit tests
# Each is core/*.c plus the POSIX platform seam (core/sysdeps/posix.c).
CORE_SRCS    := $(wildcard core/*.c)
CORE_HDRS    := $(wildcard core/include/hpm/*.h core/*.h)
CORE_CFLAGS  := -Icore/include
HOST_LIBS    := -lmbedcrypto -lfdt -lcrypto

# $(call core-lib,VARIANT,CFLAGS): the objects and archive of one variant.
define core-lib
$(B)/$(1)/core/%.o: core/%.c $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $(2) $(CORE_CFLAGS) -c $$< -o $$@

$(B)/$(1)/libhpmcore.a: $(patsubst core/%.c,$(B)/$(1)/core/%.o,$(CORE_SRCS) core/sysdeps/posix.c)
	@rm -f $$@
	ar rcs $$@ $$^
endef

$(eval $(call core-lib,host,$(HOST_CFLAGS)))
$(eval $(call core-lib,san,$(SAN_CFLAGS)))

ALL_TARGETS += $(B)/host/libhpmcore.a
