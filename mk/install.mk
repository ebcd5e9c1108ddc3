# mk/install.mk: the man pages, and installing hpm on a host (FHS).
#
#   $(B)/man/NAME.N        man pages: man/NAME.N.scd turned into roff by scdoc
#   make shipped           build only what `make install` installs (the package
#                          build, debian/rules, uses it: no tests, no fuzzers)
#   make install           install into $(DESTDIR)$(PREFIX) (default PREFIX=/usr)
#                          plus $(DESTDIR)/etc/hpm/ and $(DESTDIR)/etc/hpm/health.d/
#   make uninstall         remove what `make install` put there (same variables);
#                          /etc/hpm/ and health.d/ only when they are empty
#
# Nothing is written outside $(DESTDIR) (and $(B)).  The systemd units name
# /usr/sbin/hpm and /usr/lib/hpm/hpm-health-check; they are installed with
# $(PREFIX) put in place of /usr.  /etc/hpm is not under PREFIX: hpm reads
# its policy, trust store and health checks there whatever the prefix.
# The EFI images are those the build made, under their own names in
# $(PREFIX)/lib/hpm/efi/: always the development images of plain `make`
# (hpmboot-dev.efi, hpmboot-dev.signed.efi), and the release images
# (hpmboot.efi, hpmboot.signed.efi) when `make hpmboot-release` made them
# (mk/hpmboot.mk); without release images `make install` warns.

PREFIX  ?= /usr
DESTDIR ?=

# ---- man pages -----------------------------------------------------------------
MAN_SRCS  := $(wildcard man/*.scd)
MAN_PAGES := $(patsubst man/%.scd,$(B)/man/%,$(MAN_SRCS))

$(B)/man/%: man/%.scd | $(DEPS_STAMP)
	@mkdir -p $(@D)
	scdoc < $< > $@.tmp || { rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

.PHONY: man
man: $(MAN_PAGES)
ALL_TARGETS += $(MAN_PAGES)

# ---- the systemd units, with PREFIX in place of /usr ----------------------------
UNIT_SRCS := $(wildcard systemd/*.service systemd/*.timer)
UNITS_OUT := $(B)/install/systemd
UNITS     := $(patsubst systemd/%,$(UNITS_OUT)/%,$(UNIT_SRCS))

# Rewritten whenever PREFIX changes (the stamp holds the last one).
$(UNITS_OUT)/prefix: FORCE
	@mkdir -p $(@D)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(PREFIX)' ]; then echo '$(PREFIX)' > $@; fi
$(UNITS_OUT)/%: systemd/% $(UNITS_OUT)/prefix
	sed -e 's|/usr/sbin/hpm|$(PREFIX)/sbin/hpm|g' -e 's|/usr/lib/hpm/|$(PREFIX)/lib/hpm/|g' \
	    -e 's|/usr/share/doc/hpm/|$(PREFIX)/share/doc/hpm/|g' $< > $@

# ---- what goes where --------------------------------------------------------------
# MODE:SOURCE:DESTINATION (under $(DESTDIR)); `=` so that a PREFIX given on
# the command line is used.
INSTALL_ITEMS = \
  0755:$(B)/runtime/hpm:$(PREFIX)/sbin/hpm \
  0755:$(B)/tools/hpm-sign:$(PREFIX)/bin/hpm-sign \
  0755:$(B)/tools/hpm-patchgen:$(PREFIX)/bin/hpm-patchgen \
  0755:systemd/hpm-health-check:$(PREFIX)/lib/hpm/hpm-health-check \
  $(foreach e,$(HPMBOOT_INSTALLED),0644:$(e):$(PREFIX)/lib/hpm/efi/$(notdir $(e))) \
  $(foreach u,$(UNITS),0644:$(u):$(PREFIX)/lib/systemd/system/$(notdir $(u))) \
  $(foreach d,$(wildcard docs/*.md) docs/hpm-json.schema.json,0644:$(d):$(PREFIX)/share/doc/hpm/$(notdir $(d))) \
  0644:docs/examples/hpm.conf:$(PREFIX)/share/doc/hpm/examples/hpm.conf \
  $(foreach m,$(MAN_PAGES),0644:$(m):$(PREFIX)/share/man/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
  $(foreach c,$(wildcard completion/*),0644:$(c):$(PREFIX)/share/bash-completion/completions/$(notdir $(c)))

# The boot images to install: expanded when the recipe runs, after the
# development images were made; release images only if they exist.
HPMBOOT_INSTALLED = $(HPMBOOT_DEV_EFI) $(HPMBOOT_DEV_SIGNED_EFI) $(wildcard $(HPMBOOT_EFI) $(HPMBOOT_SIGNED_EFI))
# What uninstall removes besides INSTALL_ITEMS: every image name.
HPMBOOT_ALL_NAMES := $(notdir $(HPMBOOT_DEV_EFI) $(HPMBOOT_DEV_SIGNED_EFI) $(HPMBOOT_EFI) $(HPMBOOT_SIGNED_EFI))

# Directories of hpm's own, removed by uninstall when empty (deepest first).
INSTALL_DIRS = $(PREFIX)/lib/hpm/efi $(PREFIX)/lib/hpm $(PREFIX)/share/doc/hpm/examples $(PREFIX)/share/doc/hpm
ETC_DIRS    := /etc/hpm/health.d /etc/hpm

item_mode = $(word 1,$(subst :, ,$(1)))
item_src  = $(word 2,$(subst :, ,$(1)))
item_dest = $(DESTDIR)$(word 3,$(subst :, ,$(1)))

INSTALL_DEPS := $(B)/runtime/hpm $(B)/tools/hpm-sign $(B)/tools/hpm-patchgen $(HPMBOOT_DEV_EFI) \
                $(HPMBOOT_DEV_SIGNED_EFI) $(MAN_PAGES) $(UNITS)

.PHONY: install uninstall shipped
shipped: $(INSTALL_DEPS)

install: $(INSTALL_DEPS)
	@set -e; $(foreach i,$(INSTALL_ITEMS),echo 'install $(call item_src,$(i)) $(call item_dest,$(i))'; \
	  install -D -m $(call item_mode,$(i)) '$(call item_src,$(i))' '$(call item_dest,$(i))';)
	install -d -m 0755 '$(DESTDIR)/etc/hpm' '$(DESTDIR)/etc/hpm/health.d'
	@if [ -z '$(wildcard $(HPMBOOT_EFI))' ]; then \
	  echo 'install: warning: only the development boot images (hpmboot-dev.efi, hpmboot-dev.signed.efi: they trust the throwaway key of this build tree) were installed; build release images with `make hpmboot-release HPM_TRUST_KEYS=... HPM_DB_KEY=... HPM_DB_CERT=...` (docs/operations.md "Boot images")' >&2; fi

uninstall:
	@set -e; $(foreach i,$(INSTALL_ITEMS),echo 'rm -f $(call item_dest,$(i))'; rm -f '$(call item_dest,$(i))';)
	@set -e; $(foreach n,$(HPMBOOT_ALL_NAMES),rm -f '$(DESTDIR)$(PREFIX)/lib/hpm/efi/$(n)';)
	@set -e; for d in $(addprefix '$(DESTDIR),$(addsuffix ',$(INSTALL_DIRS) $(ETC_DIRS))); do \
	  if [ -d "$$d" ]; then rmdir --ignore-fail-on-non-empty "$$d"; fi; done
