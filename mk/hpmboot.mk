# mk/hpmboot.mk: hpmboot.efi, the UEFI boot stage (efi/hpmboot*.c), and the
# firmware-test entry point for it.  Needs mk/efi.mk first.
#
# Two builds of the same sources (docs/operations.md "Boot images"):
#
#   development (plain `make`): $(B)/efi/hpmboot-dev.efi and
#     $(B)/efi/hpmboot-dev.signed.efi (signed for Secure Boot with sbsign).
#     They trust a throwaway development key that `make` generates once into
#     $(B)/keys/dev-release.* (the firmware tests sign with it), are signed
#     with a development db key ($(B)/keys/dev-db.*), and hand the kernel
#     the certificate of a development module signing key
#     ($(B)/keys/dev-kmod.*, RSA), all never committed;
#     compiled with HPMBOOT_DEV_IMAGE, they print a banner at boot and
#     publish HpmBootImage=development, so `hpm status` warns.
#
#   release: `make hpmboot-release` with named keys, and nothing else:
#     HPM_TRUST_KEYS=a.pub,b.pub   PEM public keys of the release signers
#                                  (required; the development key is refused)
#     HPM_TRUST_THRESHOLD=N        distinct trusted signers required (default 1)
#     HPM_DB_KEY=db.key HPM_DB_CERT=db.crt   the fleet's db signing key and
#                                  certificate: also writes hpmboot.signed.efi
#     HPM_KERNEL_CERTS=kmod.crt    X.509 certificate(s) (RSA) of the release's
#                                  kernel module signing key, handed to the
#                                  kernel's machine keyring (MokListRT; docs/
#                                  kernel-hotpatch.md "Secure Boot"); required:
#                                  HPM_KERNEL_CERTS=none hands over none
#     HPMBOOT_RELEASE_DIR=DIR      where to write them (default $(B)/efi)
#     -> DIR/hpmboot.efi (+ DIR/hpmboot.signed.efi), HpmBootImage=release.
#
#   $(B)/efi/hpm-sb-enroll.efi   TEST ONLY: enrolls Secure Boot test keys
#   make hpmboot-signed    the signed development image only
#   make check-secureboot  firmware-tests/test_secureboot.py, test_measured.py and
#                          test_kernel_secureboot.py (OVMF Secure Boot build,
#                          swtpm; about 2-3 min)
#   make check-boot        pytest firmware-tests/ -k boot: test_boot*.py and every
#                          other firmware test whose name says "boot" (coretest,
#                          lifecycle's reboot, test_secureboot.py)
#   make bench-boot        hpmboot.efi start -> handover (read, verify, state
#                          write) for BENCH_BOOT_MIB (default "16 64") MiB
#                          baselines vs a read-only pass, best of
#                          BENCH_BOOT_RUNS (default 3); bench/boot_bench.py
#
# Every image names the keys it trusts on its console at start.

HPM_DEV_KEY         := $(B)/keys/dev-release
HPM_DEV_DB          := $(B)/keys/dev-db
HPM_TRUST_KEYS      ?=
HPM_TRUST_THRESHOLD ?= 1
HPM_DB_KEY          ?=
HPM_DB_CERT         ?=
HPM_KERNEL_CERTS    ?=
HPM_DEV_KMOD        := $(B)/keys/dev-kmod
HPMBOOT_RELEASE_DIR ?= $(B)/efi
HPMBOOT_VERSION     ?= $(shell git -C $(TOP) describe --always --dirty 2>/dev/null | tr -cd 'A-Za-z0-9._+-' || echo unknown)

# The image files (install.mk, tests.mk and the tests take them from here).
HPMBOOT_DEV_EFI        := $(B)/efi/hpmboot-dev.efi
HPMBOOT_DEV_SIGNED_EFI := $(B)/efi/hpmboot-dev.signed.efi
HPMBOOT_EFI            := $(HPMBOOT_RELEASE_DIR)/hpmboot.efi
HPMBOOT_SIGNED_EFI     := $(HPMBOOT_RELEASE_DIR)/hpmboot.signed.efi

hpmboot_comma := ,
HPMBOOT_SRCS  := $(wildcard efi/hpmboot*.c)
HPMBOOT_LDS   ?= $(TOP)/linker/hpmboot-x86_64.lds

.PHONY: FORCE
FORCE:

# $(call hpmboot_image,NAME,KEYS,EXTRA_CFLAGS,OUT.efi,FORBIDDEN_KEYS,KERNEL_CERTS,FORBIDDEN_CERTS):
# the rules of one build in $(B)/efi/NAME/.  The key list, kernel
# certificates, threshold and version are inputs of the generated
# trusted_keys.c: the config stamp is rewritten only when they change, so
# other keys always rebuild and the same never do.
define hpmboot_image
$(1)_DIR  := $(B)/efi/$(1)
$(1)_OBJS := $$(patsubst efi/%.c,$(B)/efi/$(1)/%.o,$(HPMBOOT_SRCS)) $(B)/efi/$(1)/trusted_keys.o
$(1)_CFG  := $(2)|$(HPM_TRUST_THRESHOLD)|$(HPMBOOT_VERSION)|$(5)|$(6)|$(7)

$(B)/efi/$(1)/trust.cfg: FORCE
	@mkdir -p $$(@D)
	@if [ "$$$$(cat $$@ 2>/dev/null)" != '$$($(1)_CFG)' ]; then echo '$$($(1)_CFG)' > $$@; fi
$(B)/efi/$(1)/trusted_keys.c: $(B)/efi/$(1)/trust.cfg scripts/hpmboot-trust.sh $(subst $(hpmboot_comma), ,$(2)) \
    $(filter-out none,$(subst $(hpmboot_comma), ,$(6)))
	bash scripts/hpmboot-trust.sh '$(2)' '$(HPM_TRUST_THRESHOLD)' '$(HPMBOOT_VERSION)' $$@ '$(5)' '$(6)' '$(7)' \
	  $(if $(findstring HPMBOOT_DEV_IMAGE,$(3)),development,release)
$(B)/efi/$(1)/%.o: efi/%.c $(CORE_HDRS) efi/hpmboot.h efi/sysdeps_efi.h | $(DEPS_STAMP)
	@mkdir -p $$(@D)
	$(EFI_CC) $(EFI_APP_CFLAGS) $(3) -c $$< -o $$@
$(B)/efi/$(1)/trusted_keys.o: $(B)/efi/$(1)/trusted_keys.c efi/hpmboot.h | $(DEPS_STAMP)
	$(EFI_CC) $(EFI_APP_CFLAGS) -I$(TOP)/efi -c $$< -o $$@
$(B)/efi/$(1)/hpmboot.so: $$($(1)_OBJS) $(EFI_SYSDEPS_OBJ) $(EFI_CORE_LIB) $(EFI_DEPS_LIB) $(EFI_CRT0) $(HPMBOOT_LDS)
	$(EFI_LD) $(subst -T $(EFI_LDS),-T $(HPMBOOT_LDS),$(EFI_LDFLAGS)) $(EFI_CRT0) \
	  $$($(1)_OBJS) $(EFI_SYSDEPS_OBJ) $(EFI_LINK_LIBS) -o $$@
$(4): $(B)/efi/$(1)/hpmboot.so scripts/efi-pe-finish.py
	@mkdir -p $$(@D)
	$$(call efi-objcopy,$$<,$$@)
	@echo "$$(notdir $$@): $$$$(stat -c %s $$@) bytes"
-include $$($(1)_OBJS:.o=.d)
endef

# $(call hpmboot_sign,IN.efi,OUT.efi,KEY,CERT): sbsign, then sbverify checks
# the result against the certificate before it is kept.
define hpmboot_sign
	@rm -f $(2) $(2).tmp
	sbsign --key $(3) --cert $(4) --output $(2).tmp $(1)
	sbverify --cert $(4) $(2).tmp > /dev/null
	mv $(2).tmp $(2)
endef

# ---- development images (plain make) -----------------------------------------
$(eval $(call hpmboot_image,hpmboot-dev,$(HPM_DEV_KEY).pub,-DHPMBOOT_DEV_IMAGE=1,$(HPMBOOT_DEV_EFI),,$(HPM_DEV_KMOD).crt,))

# The development key pair (and a second, untrusted one for the tests).
$(HPM_DEV_KEY).pub: | $(B)/tools/hpm-sign
	@mkdir -p $(@D)
	@rm -f $(HPM_DEV_KEY).pem $@
	$(B)/tools/hpm-sign keygen --out $(HPM_DEV_KEY).pem --pub $@ > /dev/null
$(B)/keys/dev-untrusted.pub: | $(B)/tools/hpm-sign
	@mkdir -p $(@D)
	@rm -f $(B)/keys/dev-untrusted.pem $@
	$(B)/tools/hpm-sign keygen --out $(B)/keys/dev-untrusted.pem --pub $@ > /dev/null

# A throwaway RSA-2048 db key for development and the firmware tests.
$(HPM_DEV_DB).crt:
	@mkdir -p $(@D)
	@rm -f $(HPM_DEV_DB).key $@
	openssl req -quiet -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
	  -subj '/CN=hpm development db key (not for production)/' \
	  -keyout $(HPM_DEV_DB).key -out $@ 2>/dev/null
$(HPM_DEV_DB).key: $(HPM_DEV_DB).crt

# A throwaway RSA-2048 kernel module signing key: the development image
# hands its certificate to the kernel; the firmware tests sign livepatch
# modules with it (hpm-sign hotpatch --kernel-sign-key).
$(HPM_DEV_KMOD).crt:
	@mkdir -p $(@D)
	@rm -f $(HPM_DEV_KMOD).key $@
	openssl req -quiet -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
	  -subj '/CN=hpm development kernel module signing key (not for production)/' \
	  -addext 'keyUsage=digitalSignature' -addext 'extendedKeyUsage=codeSigning' \
	  -keyout $(HPM_DEV_KMOD).key -out $@ 2>/dev/null
$(HPM_DEV_KMOD).key: $(HPM_DEV_KMOD).crt

$(HPMBOOT_DEV_SIGNED_EFI): $(HPMBOOT_DEV_EFI) $(HPM_DEV_DB).key $(HPM_DEV_DB).crt
	$(call hpmboot_sign,$(HPMBOOT_DEV_EFI),$@,$(HPM_DEV_DB).key,$(HPM_DEV_DB).crt)

.PHONY: hpmboot hpmboot-signed
hpmboot: $(HPMBOOT_DEV_EFI)
hpmboot-signed: $(HPMBOOT_DEV_SIGNED_EFI)

# ---- release images (make hpmboot-release, named keys only) --------------------
# The development keys of this build tree are refused as release keys (by
# their bytes, whatever the file name), and so is its development db key.
HPMBOOT_RELEASE_HOWTO := make hpmboot-release: no HPM_TRUST_KEYS: name the public keys of the release signers, e.g.\n\
  make hpmboot-release HPM_TRUST_KEYS=release-a.pub,release-b.pub HPM_TRUST_THRESHOLD=2 \\\n\
      HPM_DB_KEY=db.key HPM_DB_CERT=db.crt\n\
(docs/operations.md "Boot images"; plain make builds only the development image hpmboot-dev.efi)
HPMBOOT_KCERTS_HOWTO := make hpmboot-release: no HPM_KERNEL_CERTS: name the X.509 certificate (RSA) of the release'"'"'s\n\
kernel module signing key, the one `hpm-sign hotpatch --kernel-sign-cert` signs livepatch modules with; hpmboot.efi\n\
hands it to the kernel (docs/kernel-hotpatch.md "Secure Boot"), e.g.\n\
  make hpmboot-release HPM_TRUST_KEYS=release-a.pub HPM_KERNEL_CERTS=kmod.crt HPM_DB_KEY=db.key HPM_DB_CERT=db.crt\n\
or HPM_KERNEL_CERTS=none for an image that hands the kernel no key (kernel hotpatches then do not load under Secure Boot)

# Builds made before the development/release split left the development
# image under the release name: remove that once, so that `make install`
# never ships it as a release image.
ifneq ($(wildcard $(B)/efi/hpmboot/trust.cfg),)
$(shell rm -rf $(B)/efi/hpmboot $(B)/efi/hpmboot.so $(B)/efi/hpmboot.efi $(B)/efi/hpmboot.signed.efi)
endif

.PHONY: hpmboot-release
ifeq ($(strip $(HPM_TRUST_KEYS)),)
hpmboot-release:
	@printf '$(HPMBOOT_RELEASE_HOWTO)\n' >&2; exit 2
else ifeq ($(strip $(HPM_KERNEL_CERTS)),)
hpmboot-release:
	@printf '$(HPMBOOT_KCERTS_HOWTO)\n' >&2; exit 2
else
$(eval $(call hpmboot_image,hpmboot-release,$(HPM_TRUST_KEYS),,$(HPMBOOT_EFI),$(HPM_DEV_KEY).pub$(hpmboot_comma)$(B)/keys/dev-untrusted.pub,$(HPM_KERNEL_CERTS),$(HPM_DEV_KMOD).crt))
ifeq ($(strip $(HPM_DB_KEY)$(HPM_DB_CERT)),)
hpmboot-release: $(HPMBOOT_EFI)
	@echo 'hpmboot-release: $(HPMBOOT_EFI) (no HPM_DB_KEY/HPM_DB_CERT: not signed for Secure Boot)'
else
$(HPMBOOT_SIGNED_EFI): $(HPMBOOT_EFI) $(HPM_DB_KEY) $(HPM_DB_CERT)
	@if [ -z '$(HPM_DB_KEY)' ] || [ -z '$(HPM_DB_CERT)' ]; then \
	  echo 'hpmboot-release: give both HPM_DB_KEY and HPM_DB_CERT (the db signing key and its certificate)' >&2; exit 2; fi
	@if [ -e '$(HPM_DEV_DB).crt' ] && cmp -s '$(HPM_DB_CERT)' '$(HPM_DEV_DB).crt'; then \
	  echo 'hpmboot-release: HPM_DB_CERT=$(HPM_DB_CERT) is the development db certificate of this build tree; give the fleet'"'"'s db key and certificate' >&2; exit 2; fi
	$(call hpmboot_sign,$(HPMBOOT_EFI),$@,$(HPM_DB_KEY),$(HPM_DB_CERT))
hpmboot-release: $(HPMBOOT_SIGNED_EFI)
	@echo 'hpmboot-release: $(HPMBOOT_EFI), $(HPMBOOT_SIGNED_EFI)'
endif
endif

# TEST ONLY: enrolls PK/KEK/db from .auth files into an OVMF variable store
# in setup mode (firmware-tests/test_secureboot.py, test_measured.py).
HPM_SB_ENROLL := $(B)/efi/hpm-sb-enroll.efi
$(B)/efi/sb-enroll/sb-enroll.o: firmware-tests/efi/sb-enroll.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(EFI_CC) $(EFI_BASE_CFLAGS) $(WARN) $(EFI_GNUEFI_CPPFLAGS) -c $< -o $@
$(B)/efi/hpm-sb-enroll.so: $(B)/efi/sb-enroll/sb-enroll.o $(EFI_CRT0) $(EFI_LDS)
	$(EFI_LD) $(EFI_LDFLAGS) $(EFI_CRT0) $< $(GNUEFI_LIB)/libefi.a $(GNUEFI_LIB)/libgnuefi.a -o $@
$(HPM_SB_ENROLL): $(B)/efi/hpm-sb-enroll.so scripts/efi-pe-finish.py
	$(call efi-objcopy,$<,$@)

.PHONY: check-secureboot
# Secure Boot and measured boot under OVMF's Secure Boot build + swtpm.
check-secureboot: $(HPMBOOT_DEV_SIGNED_EFI) $(HPM_SB_ENROLL) $(B)/tools/hpm-sign $(DEPS_STAMP)
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q firmware-tests/test_secureboot.py \
	  firmware-tests/test_measured.py firmware-tests/test_kernel_secureboot.py

BENCH_BOOT_MIB  ?= 16 64
BENCH_BOOT_RUNS ?= 3

.PHONY: check-boot bench-boot
check-boot: $(HPMBOOT_DEV_EFI) $(B)/tools/hpm-sign $(DEPS_STAMP)
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q firmware-tests/ -k boot

# Figures, not pass/fail (QEMU TCG, so absolute times are emulation times).
bench-boot: $(HPMBOOT_DEV_EFI) $(B)/tools/hpm-sign $(DEPS_STAMP)
	@HPM_BUILD=$(B) BENCH_BOOT_MIB='$(BENCH_BOOT_MIB)' BENCH_BOOT_RUNS='$(BENCH_BOOT_RUNS)' \
	  $(PYTHON) bench/boot_bench.py

ALL_TARGETS += $(HPMBOOT_DEV_EFI) $(HPMBOOT_DEV_SIGNED_EFI) $(HPM_SB_ENROLL) $(B)/keys/dev-untrusted.pub \
  $(HPM_DEV_KMOD).key

-include $(B)/efi/sb-enroll/sb-enroll.d
