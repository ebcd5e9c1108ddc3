# hpm top-level build.  Everything lands in build/; third-party sources in .deps/.
#   make          build everything (runs `make deps` once)
#   make check    every test suite, ending with "N passed, N failed"
#   make demo     the guided tour
#   make bench    benchmarks (figures, not pass/fail)
#   make fuzz     run every fuzzer long (FUZZ_SECONDS per target, default 300)
#   make install  install into DESTDIR/PREFIX (mk/install.mk); make uninstall
#   make deb      the Debian packages into build/deb/ (debian/, mk/deb.mk)
#   make check-long   not part of `make check`: the crash-safety scenarios long
#                 (hpm killed 200 + 200 times, 100 power cuts under QEMU; 20 to 35
#                 minutes on 2 shared cores) and their figures; knobs and seed in mk/tests.mk

.DEFAULT_GOAL := all
SHELL := /bin/bash
TOP   := $(abspath .)
B     := $(TOP)/build
DEPS  := $(TOP)/.deps

CC      ?= gcc
CLANG   ?= clang
PYTHON  ?= /usr/bin/python3
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wpointer-arith
HOST_CFLAGS := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN_CFLAGS  := -std=gnu11 -O1 -g $(WARN) -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Every library is built in two flavors: host (HOST_CFLAGS, for the
# programs) and san (SAN_CFLAGS: ASan+UBSan, for the unit tests).
#   $(call library,NAME,SRCDIR,SRCS,HDRS,CFLAGS)
# makes $(B)/host/libNAME.a and $(B)/san/libNAME.a from the objects
# $(B)/<flavor>/SRCDIR/*.o of SRCS (which may lie in subfolders of SRCDIR).
define library-flavor
$(B)/$(1)/$(3)/%.o: $(3)/%.c $(5) | $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(CC) $$($(2)) $(6) -c $$< -o $$@
$(B)/$(1)/lib$(4).a: $(patsubst $(3)/%.c,$(B)/$(1)/$(3)/%.o,$(7))
	@rm -f $$@
	ar rcs $$@ $$^
endef
library = $(eval $(call library-flavor,host,HOST_CFLAGS,$(2),$(1),$(4),$(5),$(3))) \
          $(eval $(call library-flavor,san,SAN_CFLAGS,$(2),$(1),$(4),$(5),$(3)))

# The dependency stamp: installs Debian packages and fetches pinned sources once.
DEPS_STAMP := $(DEPS)/.stamp-v1
$(DEPS_STAMP): scripts/deps.sh
	@bash scripts/deps.sh "$(DEPS)"
	@touch $@
.PHONY: deps
deps: $(DEPS_STAMP)

include mk/core.mk
include mk/host.mk
include mk/efi.mk
include mk/hpmboot.mk
include mk/tools.mk
include mk/patchgen.mk
include mk/runtime.mk
include mk/install.mk
include mk/deb.mk
include mk/tests.mk
include mk/fuzz.mk
include mk/bench.mk
include mk/demo.mk

.PHONY: all clean check
all: $(ALL_TARGETS)

# Every suite; the last line is "N passed, N failed".
check: $(DEPS_STAMP)
	@B="$(B)" MAKE="$(MAKE)" PYTHON="$(PYTHON)" bash scripts/check.sh

clean:
	rm -rf $(B)
