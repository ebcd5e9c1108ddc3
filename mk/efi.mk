# mk/efi.mk: the freestanding UEFI (gnu-efi, x86-64) build of core/,
# mbedTLS and libfdt, the core symbol check, and the hpm-coretest.efi app.
# Included by the top-level Makefile (B, DEPS, DEPS_STAMP, WARN, TOP, PYTHON).
#
#   $(B)/efi/libhpmcore.a   core/*.c only (symbol-checked before archiving)
#   $(B)/efi/libhpmdeps.a   mbedTLS subset + libfdt + efi/libc/string.c
#   $(B)/efi/sysdeps_efi.o  core's platform seam for UEFI (link it explicitly)
#   $(B)/efi/hpm-coretest.efi  link/run smoke test (firmware-tests/test_coretest.py);
#                           its ECDSA vectors $(B)/efi/coretest_vectors.h are made
#                           once by efi/coretest-vectors.sh (OpenSSL)
#
# An EFI application links as:
#   $(EFI_LD) $(EFI_LDFLAGS) $(EFI_CRT0) <objs> $(EFI_SYSDEPS_OBJ) $(EFI_LINK_LIBS)
# then $(call efi-objcopy,<in.so>,<out.efi>).

# ---- tools and gnu-efi -------------------------------------------------------
EFI_CC      ?= gcc
EFI_LD      ?= ld
EFI_AR      ?= ar
EFI_NM      ?= nm
EFI_OBJCOPY ?= objcopy

GNUEFI_INC  ?= /usr/include/efi
GNUEFI_LIB  ?= /usr/lib
EFI_CRT0    ?= $(GNUEFI_LIB)/crt0-efi-x86_64.o
EFI_LDS     ?= $(GNUEFI_LIB)/elf_x86_64_efi.lds

# ---- third-party sources (unpacked by scripts/deps.sh) ----------------------
EFI_MBEDTLS_SRC := $(DEPS)/src/mbedtls-2.28.3
EFI_LIBFDT_SRC  := $(DEPS)/src/libfdt

# The mbedTLS modules for verify-only ECDSA P-256/P-384 + SHA-256/384/512.
# Keep in step with efi/mbedtls_config.h.
EFI_MBEDTLS_MODULES := asn1parse asn1write bignum constant_time ecdsa ecp ecp_curves \
                       memory_buffer_alloc platform platform_util sha256 sha512
# libfdt without fdt_overlay.c (needs strtoul) and fdt_addresses/fdt_empty_tree.
EFI_LIBFDT_MODULES  := fdt fdt_ro fdt_wip fdt_sw fdt_rw fdt_strerror fdt_check

# ---- flags ----------------------------------------------------------------
# Known-good freestanding flags (measured on the build machines): no stack
# protector (it reads %fs), no red zone (firmware interrupts use our stack),
# PIC for the gnu-efi self-relocation, 16-bit wchar_t for L"" strings.
EFI_ARCH_CFLAGS := -ffreestanding -fno-stack-protector -fno-stack-check -fshort-wchar \
                   -mno-red-zone -fpic -maccumulate-outgoing-args -fno-strict-aliasing \
                   -nostdinc -isystem $(shell $(EFI_CC) -print-file-name=include)
# Our own <string.h> etc. first; efi/ holds libfdt_env.h, its xen/libfdt/
# forwarders and mbedtls_config.h.
EFI_BASE_CFLAGS := -std=gnu11 -O2 -g $(EFI_ARCH_CFLAGS) -MMD -MP \
                   -I$(TOP)/efi/libc -I$(TOP)/efi
EFI_MBEDTLS_CPPFLAGS := -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' -I$(EFI_MBEDTLS_SRC)/include
EFI_LIBFDT_CPPFLAGS  := -I$(EFI_LIBFDT_SRC)
EFI_GNUEFI_CPPFLAGS  := -DGNU_EFI_USE_MS_ABI -isystem $(GNUEFI_INC) \
                        -isystem $(GNUEFI_INC)/x86_64 -isystem $(GNUEFI_INC)/protocol
# Third-party code: its own warnings stay visible but do not fail the build;
# a call to an undeclared function (a missing libc piece) always does.
EFI_THIRD_PARTY_WARN := -Wall -Wno-unused-parameter -Wno-sign-compare \
                        -Werror=implicit-function-declaration -Werror=implicit-int

EFI_CORE_CFLAGS := $(EFI_BASE_CFLAGS) $(WARN) -I$(TOP)/core/include \
                   $(EFI_MBEDTLS_CPPFLAGS) $(EFI_LIBFDT_CPPFLAGS)
EFI_APP_CFLAGS  := $(EFI_CORE_CFLAGS) $(EFI_GNUEFI_CPPFLAGS)

EFI_LDFLAGS := -nostdlib -znocombreloc -T $(EFI_LDS) -shared -Bsymbolic --no-undefined
# Sections copied into the PE image (never link with --gc-sections: the
# gnu-efi script's .reloc placeholder would go and OVMF refuses the image).
EFI_PE_SECTIONS := -j .text -j .sdata -j .data -j .dynamic -j .dynsym \
                   -j .rel -j .rela -j .rel.* -j .rela.* -j .reloc -j .hpmkeys
# Then scripts/efi-pe-finish.py sets the NX-compatible DLL characteristic
# (objcopy cannot), anchors gnu-efi's placeholder relocation block inside the
# image and refuses W+X or unaligned sections: what UEFI CA signing requires.
# --strip-all: no COFF symbol table after the last section (sbsign would
# hash it as trailing data).
efi-objcopy = $(EFI_OBJCOPY) $(EFI_PE_SECTIONS) --strip-all --target efi-app-x86_64 --subsystem=10 $(1) $(2) \
              && $(PYTHON) $(TOP)/scripts/efi-pe-finish.py $(2) || { rm -f $(2); false; }

# ---- objects ----------------------------------------------------------------
EFI_MBEDTLS_SRCS := $(patsubst %,$(EFI_MBEDTLS_SRC)/library/%.c,$(EFI_MBEDTLS_MODULES))
EFI_LIBFDT_SRCS  := $(patsubst %,$(EFI_LIBFDT_SRC)/%.c,$(EFI_LIBFDT_MODULES))
EFI_MBEDTLS_OBJS := $(patsubst %,$(B)/efi/mbedtls/%.o,$(EFI_MBEDTLS_MODULES))
EFI_LIBFDT_OBJS  := $(patsubst %,$(B)/efi/libfdt/%.o,$(EFI_LIBFDT_MODULES))
EFI_LIBC_OBJS    := $(B)/efi/libc/string.o
EFI_CORE_SRCS    := $(wildcard core/*.c)
EFI_CORE_OBJS    := $(patsubst core/%.c,$(B)/efi/core/%.o,$(EFI_CORE_SRCS))
EFI_SYSDEPS_OBJ  := $(B)/efi/sysdeps_efi.o
EFI_CORETEST_OBJ := $(B)/efi/coretest.o

EFI_CORE_LIB := $(B)/efi/libhpmcore.a
EFI_DEPS_LIB := $(B)/efi/libhpmdeps.a
EFI_LINK_LIBS = --start-group $(EFI_CORE_LIB) $(EFI_DEPS_LIB) $(GNUEFI_LIB)/libefi.a \
                $(GNUEFI_LIB)/libgnuefi.a --end-group
EFI_CORETEST := $(B)/efi/hpm-coretest.efi

EFI_ALL_OBJS := $(EFI_MBEDTLS_OBJS) $(EFI_LIBFDT_OBJS) $(EFI_LIBC_OBJS) $(EFI_CORE_OBJS) \
                $(EFI_SYSDEPS_OBJ) $(EFI_CORETEST_OBJ)

# The unpacked sources appear when the dependency stamp is made.
$(EFI_MBEDTLS_SRCS) $(EFI_LIBFDT_SRCS): | $(DEPS_STAMP)

$(EFI_MBEDTLS_OBJS): $(B)/efi/mbedtls/%.o: $(EFI_MBEDTLS_SRC)/library/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(EFI_CC) $(EFI_BASE_CFLAGS) $(EFI_THIRD_PARTY_WARN) $(EFI_MBEDTLS_CPPFLAGS) \
	  -I$(EFI_MBEDTLS_SRC)/library -c $< -o $@

$(EFI_LIBFDT_OBJS): $(B)/efi/libfdt/%.o: $(EFI_LIBFDT_SRC)/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(EFI_CC) $(EFI_BASE_CFLAGS) $(EFI_THIRD_PARTY_WARN) $(EFI_LIBFDT_CPPFLAGS) -c $< -o $@

# -fno-builtin -fno-tree-loop-distribute-patterns: or GCC turns the loops
# back into calls to the functions being defined.
$(EFI_LIBC_OBJS): $(B)/efi/libc/%.o: efi/libc/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(EFI_CC) $(EFI_BASE_CFLAGS) $(WARN) -fno-builtin -fno-tree-loop-distribute-patterns \
	  -c $< -o $@

$(EFI_CORE_OBJS): $(B)/efi/core/%.o: core/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(EFI_CC) $(EFI_CORE_CFLAGS) -c $< -o $@

$(EFI_SYSDEPS_OBJ) $(EFI_CORETEST_OBJ): $(B)/efi/%.o: efi/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(EFI_CC) $(EFI_APP_CFLAGS) -c $< -o $@

# hpm-coretest.efi's ECDSA vectors, made once by OpenSSL (never committed).
EFI_CORETEST_VECTORS := $(B)/efi/coretest_vectors.h
$(EFI_CORETEST_VECTORS): efi/coretest-vectors.sh
	@mkdir -p $(@D)
	bash efi/coretest-vectors.sh $@
$(EFI_CORETEST_OBJ): $(EFI_CORETEST_VECTORS)
$(EFI_CORETEST_OBJ): EFI_APP_CFLAGS += -I$(B)/efi

# ---- libraries ----------------------------------------------------------------
# The core library is only archived when its objects pass the symbol check.
$(EFI_CORE_LIB): $(EFI_CORE_OBJS) scripts/check-core-symbols.sh
	@NM=$(EFI_NM) bash scripts/check-core-symbols.sh $(EFI_CORE_OBJS)
	@rm -f $@
	$(EFI_AR) rcsD $@ $(EFI_CORE_OBJS)

$(EFI_DEPS_LIB): $(EFI_MBEDTLS_OBJS) $(EFI_LIBFDT_OBJS) $(EFI_LIBC_OBJS)
	@rm -f $@
	$(EFI_AR) rcsD $@ $^

.PHONY: check-core-symbols
check-core-symbols: $(EFI_CORE_OBJS)
	@NM=$(EFI_NM) bash scripts/check-core-symbols.sh $(EFI_CORE_OBJS)

# ---- hpm-coretest.efi ---------------------------------------------------------
$(B)/efi/hpm-coretest.so: $(EFI_CORETEST_OBJ) $(EFI_SYSDEPS_OBJ) $(EFI_CORE_LIB) $(EFI_DEPS_LIB) \
                          $(EFI_CRT0) $(EFI_LDS)
	$(EFI_LD) $(EFI_LDFLAGS) $(EFI_CRT0) $(EFI_CORETEST_OBJ) $(EFI_SYSDEPS_OBJ) \
	  $(EFI_LINK_LIBS) -o $@

$(EFI_CORETEST): $(B)/efi/hpm-coretest.so scripts/efi-pe-finish.py
	$(call efi-objcopy,$<,$@)

# Boots hpm-coretest.efi under QEMU (TCG) + OVMF: about 6-9 s.
.PHONY: check-efi-coretest
check-efi-coretest: $(EFI_CORETEST)
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q firmware-tests/test_coretest.py

ALL_TARGETS += $(EFI_CORE_LIB) $(EFI_DEPS_LIB) $(EFI_CORETEST)

-include $(EFI_ALL_OBJS:.o=.d)
