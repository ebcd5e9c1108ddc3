# mk/hpmboot.mk: hpmboot.efi, the UEFI boot stage (efi/hpmboot*.c), and the
# firmware-test entry point for it.  Needs mk/efi.mk first.
#
#   $(B)/efi/hpmboot.efi   the boot stage, trusted keys built in:
#     HPM_TRUST_KEYS=a.pub,b.pub   PEM public keys (default: a development key
#                                  generated once into $(B)/keys/)
#     HPM_TRUST_THRESHOLD=N        distinct trusted signers required (default 1)
#   $(B)/efi/hpmboot.signed.efi  the same image signed for UEFI Secure Boot
#                          with sbsign (docs/operations.md "Secure Boot keys"):
#     HPM_DB_KEY=db.key HPM_DB_CERT=db.crt   the fleet's db signing key + cert
#                          (default: a development db key generated once into
#                          $(B)/keys/dev-db.{key,crt}, never committed)
#   $(B)/efi/hpm-sb-enroll.efi   TEST ONLY: enrolls Secure Boot test keys
#   make hpmboot-signed    the signed image only
#   make check-secureboot  firmware-tests/test_secureboot.py + test_measured.py
#                          (OVMF Secure Boot build, swtpm; about 1 min)
#   make check-boot        pytest firmware-tests/ -k boot: test_boot*.py and every
#                          other firmware test whose name says "boot" (coretest,
#                          lifecycle's reboot, test_secureboot.py)
#   make bench-boot        hpmboot.efi start -> handover (read, verify, state
#                          write) for BENCH_BOOT_MIB (default "16 64") MiB
#                          baselines vs a read-only pass, best of
#                          BENCH_BOOT_RUNS (default 3); bench/boot_bench.py
#
# Production builds must set HPM_TRUST_KEYS: the default trusts a throwaway
# development key that `make` generates into $(B)/keys/ (never committed; the
# firmware tests sign with it), and hpmboot.efi names every key it trusts on
# its console at start.

HPM_DEV_KEY         := $(B)/keys/dev-release
HPM_TRUST_KEYS      ?= $(HPM_DEV_KEY).pub
HPM_TRUST_THRESHOLD ?= 1
HPMBOOT_VERSION     ?= $(shell git -C $(TOP) describe --always --dirty 2>/dev/null | tr -cd 'A-Za-z0-9._+-' || echo unknown)

hpmboot_comma := ,
HPMBOOT_DIR   := $(B)/efi/hpmboot
HPMBOOT_SRCS  := $(wildcard efi/hpmboot*.c)
HPMBOOT_OBJS  := $(patsubst efi/%.c,$(HPMBOOT_DIR)/%.o,$(HPMBOOT_SRCS)) $(HPMBOOT_DIR)/trusted_keys.o
HPMBOOT_LDS   ?= $(TOP)/linker/hpmboot-x86_64.lds
HPMBOOT_EFI   := $(B)/efi/hpmboot.efi

# The key list, threshold and version are inputs of the generated file:
# rewrite the config stamp only when they change, so a different
# HPM_TRUST_KEYS always rebuilds and an unchanged one never does.
HPMBOOT_TRUST_CFG := $(HPM_TRUST_KEYS)|$(HPM_TRUST_THRESHOLD)|$(HPMBOOT_VERSION)
$(HPMBOOT_DIR)/trust.cfg: FORCE
	@mkdir -p $(@D)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(HPMBOOT_TRUST_CFG)' ]; then \
	  echo '$(HPMBOOT_TRUST_CFG)' > $@; fi
.PHONY: FORCE
FORCE:

$(HPMBOOT_DIR)/trusted_keys.c: $(HPMBOOT_DIR)/trust.cfg scripts/hpmboot-trust.sh \
                               $(subst $(hpmboot_comma), ,$(HPM_TRUST_KEYS))
	bash scripts/hpmboot-trust.sh '$(HPM_TRUST_KEYS)' '$(HPM_TRUST_THRESHOLD)' \
	  '$(HPMBOOT_VERSION)' $@

# The development key pair (and a second, untrusted one for the tests).
$(HPM_DEV_KEY).pub: | $(B)/tools/hpm-sign
	@mkdir -p $(@D)
	@rm -f $(HPM_DEV_KEY).pem $@
	$(B)/tools/hpm-sign keygen --out $(HPM_DEV_KEY).pem --pub $@ > /dev/null
$(B)/keys/dev-untrusted.pub: | $(B)/tools/hpm-sign
	@mkdir -p $(@D)
	@rm -f $(B)/keys/dev-untrusted.pem $@
	$(B)/tools/hpm-sign keygen --out $(B)/keys/dev-untrusted.pem --pub $@ > /dev/null

$(HPMBOOT_DIR)/%.o: efi/%.c $(CORE_HDRS) efi/hpmboot.h efi/sysdeps_efi.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(EFI_CC) $(EFI_APP_CFLAGS) -c $< -o $@
$(HPMBOOT_DIR)/trusted_keys.o: $(HPMBOOT_DIR)/trusted_keys.c efi/hpmboot.h | $(DEPS_STAMP)
	$(EFI_CC) $(EFI_APP_CFLAGS) -I$(TOP)/efi -c $< -o $@

$(B)/efi/hpmboot.so: $(HPMBOOT_OBJS) $(EFI_SYSDEPS_OBJ) $(EFI_CORE_LIB) $(EFI_DEPS_LIB) \
                     $(EFI_CRT0) $(HPMBOOT_LDS)
	$(EFI_LD) $(subst -T $(EFI_LDS),-T $(HPMBOOT_LDS),$(EFI_LDFLAGS)) $(EFI_CRT0) \
	  $(HPMBOOT_OBJS) $(EFI_SYSDEPS_OBJ) $(EFI_LINK_LIBS) -o $@

$(HPMBOOT_EFI): $(B)/efi/hpmboot.so scripts/efi-pe-finish.py
	$(call efi-objcopy,$<,$@)
	@echo "hpmboot.efi: $$(stat -c %s $@) bytes"

# ---- Secure Boot signature -------------------------------------------------
HPM_DEV_DB          := $(B)/keys/dev-db
HPM_DB_KEY          ?= $(HPM_DEV_DB).key
HPM_DB_CERT         ?= $(HPM_DEV_DB).crt
HPMBOOT_SIGNED_EFI  := $(B)/efi/hpmboot.signed.efi

# A throwaway RSA-2048 db key for development and the firmware tests.
$(HPM_DEV_DB).crt:
	@mkdir -p $(@D)
	@rm -f $(HPM_DEV_DB).key $@
	openssl req -quiet -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
	  -subj '/CN=hpm development db key (not for production)/' \
	  -keyout $(HPM_DEV_DB).key -out $@ 2>/dev/null
$(HPM_DEV_DB).key: $(HPM_DEV_DB).crt

# sbverify checks the result against the certificate before it is kept.
$(HPMBOOT_SIGNED_EFI): $(HPMBOOT_EFI) $(HPM_DB_KEY) $(HPM_DB_CERT)
	@rm -f $@ $@.tmp
	sbsign --key $(HPM_DB_KEY) --cert $(HPM_DB_CERT) --output $@.tmp $(HPMBOOT_EFI)
	sbverify --cert $(HPM_DB_CERT) $@.tmp > /dev/null
	mv $@.tmp $@

.PHONY: hpmboot-signed
hpmboot-signed: $(HPMBOOT_SIGNED_EFI)

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
check-secureboot: $(HPMBOOT_SIGNED_EFI) $(HPM_SB_ENROLL) $(B)/tools/hpm-sign $(DEPS_STAMP)
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q firmware-tests/test_secureboot.py \
	  firmware-tests/test_measured.py

BENCH_BOOT_MIB  ?= 16 64
BENCH_BOOT_RUNS ?= 3

.PHONY: hpmboot check-boot bench-boot
hpmboot: $(HPMBOOT_EFI)

check-boot: $(HPMBOOT_EFI) $(B)/tools/hpm-sign $(DEPS_STAMP)
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q firmware-tests/ -k boot

# Figures, not pass/fail (QEMU TCG, so absolute times are emulation times).
bench-boot: $(HPMBOOT_EFI) $(B)/tools/hpm-sign $(DEPS_STAMP)
	@HPM_BUILD=$(B) BENCH_BOOT_MIB='$(BENCH_BOOT_MIB)' BENCH_BOOT_RUNS='$(BENCH_BOOT_RUNS)' \
	  $(PYTHON) bench/boot_bench.py

ALL_TARGETS += $(HPMBOOT_EFI) $(HPMBOOT_SIGNED_EFI) $(HPM_SB_ENROLL) $(B)/keys/dev-untrusted.pub

-include $(HPMBOOT_OBJS:.o=.d) $(B)/efi/sb-enroll/sb-enroll.d
