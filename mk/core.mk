# core/: the freestanding verification library, host build.
# (The EFI build of the same sources is in mk/efi.mk.)
CORE_SRCS    := $(wildcard core/*.c)
CORE_HDRS    := $(wildcard core/include/hpm/*.h core/*.h)
CORE_CFLAGS  := -Icore/include
HOST_LIBS    := -lmbedcrypto -lfdt -lcrypto

$(B)/host/core/%.o: core/%.c $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(CORE_CFLAGS) -c $< -o $@

$(B)/host/core/sysdeps/posix.o: core/sysdeps/posix.c $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(CORE_CFLAGS) -c $< -o $@

CORE_HOST_OBJS := $(patsubst core/%.c,$(B)/host/core/%.o,$(CORE_SRCS)) $(B)/host/core/sysdeps/posix.o
$(B)/host/libhpmcore.a: $(CORE_HOST_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Sanitizer build of the same sources, for unit tests.
$(B)/san/core/%.o: core/%.c $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(CORE_CFLAGS) -c $< -o $@
$(B)/san/core/sysdeps/posix.o: core/sysdeps/posix.c $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(CORE_CFLAGS) -c $< -o $@
CORE_SAN_OBJS := $(patsubst core/%.c,$(B)/san/core/%.o,$(CORE_SRCS)) $(B)/san/core/sysdeps/posix.o
$(B)/san/libhpmcore.a: $(CORE_SAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(B)/host/libhpmcore.a
