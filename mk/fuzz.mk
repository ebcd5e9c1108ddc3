# mk/fuzz.mk: every libFuzzer target (tests/fuzz/fuzz_*.c), one rule for all.
#
#   make check-fuzz   run every fuzzer for FUZZ_SHORT seconds (default 15);
#                     write "fuzz: N passed, M failed" (one per target) to
#                     $(B)/results/fuzz.txt; exit non-zero if any failed.
#   make fuzz         the long run: the same, each fuzzer until it has run
#                     FUZZ_RUNS inputs (default 10000000) or FUZZ_SECONDS
#                     are up (default 3600), whichever comes first; one
#                     fuzzer at a time (about 3 hours for all ten on the
#                     shared 2-core machine: the two ECDSA-bound ones,
#                     container verify and catalog, ~3,000 exec/s, take
#                     most of an hour each).
#   make fuzz-build   binaries, seed corpora and the dictionary only.
# Both end with a table, a row per target: inputs run, exec/s, coverage
# (libFuzzer's final cov: and ft: figures, corpus units/bytes) and the
# result (also in $(B)/fuzz/summary.txt).  One target alone, say:
#   make fuzz FUZZ_TARGETS=fuzz_catalog FUZZ_SECONDS=600
#
# Each fuzzer is its harness tests/fuzz/<target>.c, linked by clang with
# -fsanitize=fuzzer,address,undefined against the fuzz build of core (core's
# sources and libfdt's, see below, compiled by clang with the same
# instrumentation into libfuzzcore.a) and the objects FUZZ_OBJS_<target>
# lists: whatever the harness tests from host/ or runtime/, compiled the same
# way.  FUZZ_SYSLIBS_<target> adds system libraries, FUZZ_SEEDS_<target> a
# folder of seeds kept in the tree (tests/fuzz/corpus-*), FUZZ_MAXLEN_<target>
# the largest input (default 16384).
# Seed corpora of core's formats are generated at build time by
# tests/fuzz/gen_corpus.c (with hpmw, host build) into
# $(B)/fuzz/corpus/<target>/; every fuzzer adds what it finds to
# $(B)/fuzz/corpus/<target>/.  Crashes, leaks, timeouts and failed
# invariants are saved as $(B)/fuzz/crashes/<target>-<kind>-<sha1>; logs are
# $(B)/fuzz/<target>.log.

FUZZ_SHORT   ?= 15
FUZZ_SECONDS ?= 3600
FUZZ_RUNS    ?= 10000000
FUZZ_DIR     := $(B)/fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/bin/%,$(FUZZ_TARGETS))

# What each harness links besides the fuzz build of core.
# The two whose time goes to ECDSA verification remember each signature
# check's result (tests/fuzz/sigmemo.c: core's check still runs once for
# every distinct input) and keep mbedTLS's heap out of ASan (see below).
FUZZ_SIG_OBJS    := $(patsubst %,$(FUZZ_DIR)/obj/tests/fuzz/%.o,mbedtls_alloc sigmemo)
FUZZ_SIG_LDFLAGS := -Wl,--wrap=hpm_signature_check

FUZZ_SHARED_OBJ := $(FUZZ_DIR)/obj/tests/fuzz/shared.o
FUZZ_OBJS_fuzz_container_unverified := $(FUZZ_SHARED_OBJ)
FUZZ_OBJS_fuzz_container_verify     := $(FUZZ_SHARED_OBJ)
FUZZ_OBJS_fuzz_manifest             := $(FUZZ_SHARED_OBJ)
FUZZ_OBJS_fuzz_catalog              := $(FUZZ_SHARED_OBJ)
FUZZ_OBJS_fuzz_hotpatch_payload     := $(FUZZ_DIR)/obj/host/payload.o
FUZZ_OBJS_fuzz_kmod                 := $(FUZZ_DIR)/obj/host/kmod.o
# the resolver of a payload's imports: the ELF dynamic-symbol parser (runtime/hotpatch/dso.c)
FUZZ_OBJS_fuzz_dso                  := $(FUZZ_DIR)/obj/runtime/hotpatch/dso.o
FUZZ_SEEDS_fuzz_dso                 := tests/fuzz/corpus-dso
FUZZ_OBJS_fuzz_kjournal             := $(FUZZ_DIR)/obj/runtime/hotpatch/kjournal.o
FUZZ_OBJS_fuzz_journal              := $(FUZZ_DIR)/obj/runtime/hotpatch/journal.o \
                                       $(patsubst %,$(FUZZ_DIR)/obj/host/%.o,hex fileio status)
FUZZ_OBJS_fuzz_bootvars             := $(FUZZ_DIR)/obj/runtime/boot/bootvars.o
FUZZ_OBJS_fuzz_setup                := $(FUZZ_DIR)/obj/runtime/boot/setup_parse.o \
                                       $(patsubst %,$(FUZZ_DIR)/obj/host/%.o,hex status)
FUZZ_OBJS_fuzz_policy               := $(patsubst %,$(FUZZ_DIR)/obj/runtime/update/%.o,policy windows enroll) \
                                       $(patsubst %,$(FUZZ_DIR)/obj/host/%.o,hex fileio status)
FUZZ_SYSLIBS_fuzz_policy            := -linih
FUZZ_OBJS_fuzz_etcd                 := $(FUZZ_DIR)/obj/runtime/fleet/etcd.o $(FUZZ_DIR)/obj/runtime/http.o $(FUZZ_DIR)/obj/runtime/dynlib.o $(FUZZ_DIR)/obj/host/status.o
FUZZ_SYSLIBS_fuzz_etcd              := -lcjson -lm
FUZZ_OBJS_fuzz_fleet                := $(FUZZ_DIR)/obj/runtime/fleet/model.o $(FUZZ_DIR)/obj/host/status.o
FUZZ_SYSLIBS_fuzz_fleet             := -lcjson -lm
# the body of a FleetLock request (hpm fleet serve --fleetlock)
FUZZ_OBJS_fuzz_fleetlock            := $(FUZZ_DIR)/obj/runtime/fleet/lockreq.o $(FUZZ_DIR)/obj/runtime/fleet/model.o $(FUZZ_DIR)/obj/host/status.o
FUZZ_SYSLIBS_fuzz_fleetlock         := -lcjson -lm
FUZZ_SEEDS_fuzz_fleetlock           := tests/fuzz/corpus-fleetlock
FUZZ_OBJS_fuzz_container_verify     += $(FUZZ_SIG_OBJS)
FUZZ_OBJS_fuzz_catalog              += $(FUZZ_SIG_OBJS)
FUZZ_LDFLAGS_fuzz_container_verify  := $(FUZZ_SIG_LDFLAGS)
FUZZ_LDFLAGS_fuzz_catalog           := $(FUZZ_SIG_LDFLAGS)
FUZZ_MBEDTLS_fuzz_container_verify  = $(FUZZ_MBEDTLS_HEAP)
FUZZ_MBEDTLS_fuzz_catalog           = $(FUZZ_MBEDTLS_HEAP)
# hpm-sign's release file: the parser and its checks, and the value checks they use.
FUZZ_OBJS_fuzz_release_file         := $(patsubst %,$(FUZZ_DIR)/obj/tools/hpm-sign/%.o,release_file values) \
                                       $(FUZZ_DIR)/obj/host/hex.o
FUZZ_SYSLIBS_fuzz_release_file      := -linih
FUZZ_SEEDS_fuzz_release_file        := tests/fuzz/corpus-release-file
FUZZ_SEEDS_fuzz_hotpatch_payload    := tests/fuzz/corpus-hotpatch
FUZZ_SEEDS_fuzz_kmod                := tests/fuzz/corpus-kmod
FUZZ_SEEDS_fuzz_kjournal            := tests/fuzz/corpus-kjournal
FUZZ_SEEDS_fuzz_journal             := tests/fuzz/corpus-journal
FUZZ_SEEDS_fuzz_bootvars            := tests/fuzz/corpus-bootvars
FUZZ_SEEDS_fuzz_setup               := tests/fuzz/corpus-setup
FUZZ_SEEDS_fuzz_policy              := tests/fuzz/corpus-policy
FUZZ_SEEDS_fuzz_tpmnv               := tests/fuzz/corpus-tpmnv
FUZZ_SEEDS_fuzz_etcd                := tests/fuzz/corpus-etcd
FUZZ_SEEDS_fuzz_fleet               := tests/fuzz/corpus-fleet
FUZZ_MAXLEN_fuzz_hotpatch_payload   := 65536
FUZZ_MAXLEN_fuzz_journal            := 8192
FUZZ_MAXLEN_fuzz_bootvars           := 4096
FUZZ_MAXLEN_fuzz_policy             := 4096
FUZZ_MAXLEN_fuzz_tpmnv              := 256

# The fuzzers whose time goes to ECDSA verification link mbedTLS
# statically, from a copy of the system's libmbedcrypto.a whose calloc and
# free are renamed to tests/fuzz/mbedtls_alloc.c's (glibc's allocator, not
# ASan's, for mbedTLS's many small bignum blocks: half of each verification's
# time otherwise; see mbedtls_alloc.h for what is kept).  Without the static
# library they link the shared one like the others.
FUZZ_MBEDTLS_STATIC := $(shell $(CLANG) -print-file-name=libmbedcrypto.a)
ifneq ($(filter /%,$(FUZZ_MBEDTLS_STATIC)),)
FUZZ_MBEDTLS_HEAP := $(FUZZ_DIR)/libmbedcrypto-heap.a
$(FUZZ_MBEDTLS_HEAP): $(FUZZ_MBEDTLS_STATIC)
	@mkdir -p $(@D)
	objcopy --redefine-sym calloc=fz_mbedtls_calloc --redefine-sym free=fz_mbedtls_free $< $@
else
FUZZ_MBEDTLS_HEAP :=
endif

FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -O1 -g $(WARN) -D_GNU_SOURCE $(FUZZ_SAN) -Icore/include -Ihost -Iruntime -Itests/fuzz \
                -Itools/hpm-sign -Itools/lib
FUZZ_LIBS    := -lmbedcrypto -lfdt -lcrypto
# Per-input limits: a hang or a memory blow-up is a failure too.
FUZZ_FLAGS   := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -dict=$(FUZZ_DIR)/hpm.dict

# libfdt: the pinned sources the EFI build uses (fetched by scripts/deps.sh),
# compiled with the same instrumentation, so the fuzzers get coverage inside
# fdt_check_full & co. and ASan sees any read libfdt makes on core's behalf.
# Their <xen/libfdt/...> includes are satisfied by two generated forwarders
# (the hosted <libfdt_env.h> from libfdt-dev).  Alignment checks are off for
# libfdt only (it loads 64-bit reservation entries at 4-byte offsets).  If
# the sources are not there, the system -lfdt is used instead.
FUZZ_LIBFDT_SRC     := $(DEPS)/src/libfdt
FUZZ_LIBFDT_MODULES := fdt fdt_ro fdt_check fdt_strerror fdt_wip fdt_sw fdt_rw
ifneq ($(wildcard $(FUZZ_LIBFDT_SRC)/fdt_check.c),)
FUZZ_LIBFDT_OBJS := $(patsubst %,$(FUZZ_DIR)/libfdt/%.o,$(FUZZ_LIBFDT_MODULES))
FUZZ_FDT_CFLAGS  := -I$(FUZZ_LIBFDT_SRC) -I$(FUZZ_DIR)/include
FUZZ_FDT_SHIMS   := $(FUZZ_DIR)/include/xen/libfdt/libfdt_env.h $(FUZZ_DIR)/include/xen/libfdt/fdt.h
FUZZ_LIBS        := -lmbedcrypto -lcrypto
else
FUZZ_LIBFDT_OBJS :=
FUZZ_FDT_CFLAGS  :=
FUZZ_FDT_SHIMS   :=
endif

$(FUZZ_DIR)/include/xen/libfdt/libfdt_env.h:
	@mkdir -p $(@D)
	@echo '#include <libfdt_env.h> /* generated by mk/fuzz.mk */' > $@
$(FUZZ_DIR)/include/xen/libfdt/fdt.h:
	@mkdir -p $(@D)
	@echo '#include <fdt.h> /* generated by mk/fuzz.mk */' > $@

$(FUZZ_DIR)/libfdt/%.o: $(FUZZ_LIBFDT_SRC)/%.c $(FUZZ_FDT_SHIMS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) -std=gnu11 -O1 -g -w $(FUZZ_SAN) -fno-sanitize=alignment -fsanitize=fuzzer-no-link \
	  $(FUZZ_FDT_CFLAGS) -c $< -o $@

# The one compile rule: core, host, runtime and harness sources alike.
$(FUZZ_DIR)/obj/%.o: %.c $(CORE_HDRS) $(RT_HDRS) tests/fuzz/shared.h tests/fuzz/mbedtls_alloc.h $(FUZZ_FDT_SHIMS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_FDT_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

FUZZ_CORE_LIB := $(FUZZ_DIR)/libfuzzcore.a
$(FUZZ_CORE_LIB): $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(CORE_SRCS) core/sysdeps/posix.c) $(FUZZ_LIBFDT_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The one link rule.
$(FUZZ_BINS): $(FUZZ_DIR)/bin/%: $(FUZZ_DIR)/obj/tests/fuzz/%.o $(FUZZ_CORE_LIB)
	@rm -f $@; mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS_$*) $(FUZZ_CORE_LIB) $(FUZZ_MBEDTLS_$*) $(FUZZ_LDFLAGS_$*) -o $@ $(FUZZ_LIBS) $(FUZZ_SYSLIBS_$*)
$(foreach t,$(FUZZ_TARGETS),$(eval $(FUZZ_DIR)/bin/$(t): $(FUZZ_OBJS_$(t)) $(FUZZ_MBEDTLS_$(t))))

# Keep the harness objects (intermediate files of the link rule).
.SECONDARY: $(patsubst %,$(FUZZ_DIR)/obj/tests/fuzz/%.o,$(FUZZ_TARGETS))

# Seeds and dictionary (host build of the generator: gcc, hpmw, core).
$(FUZZ_DIR)/gen_corpus: tests/fuzz/gen_corpus.c tests/fuzz/shared.c tests/fuzz/shared.h $(B)/host/libhpmw.a \
                        $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(CORE_HDRS) $(HPMW_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(TOOLS_CFLAGS) $< tests/fuzz/shared.c -o $@ $(B)/host/libhpmw.a $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(HPMW_LIBS)

$(FUZZ_DIR)/corpus/.stamp: $(FUZZ_DIR)/gen_corpus
	$(FUZZ_DIR)/gen_corpus $(FUZZ_DIR)
	@touch $@

# What core reads from each corpus input it accepts (tests/fuzz/core_view.c),
# for tests/cli/test_fdt_view.py, which compares it with its own FDT walker;
# built, with the seed corpora, by `make all`.
$(FUZZ_DIR)/core_view: tests/fuzz/core_view.c $(B)/host/libhpmcore.a $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(CORE_CFLAGS) $< -o $@ $(B)/host/libhpmcore.a $(HOST_LIBS)

ALL_TARGETS += $(FUZZ_DIR)/core_view $(FUZZ_DIR)/corpus/.stamp

.PHONY: fuzz-build check-fuzz fuzz
fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/corpus/.stamp

# $(call fuzz-run,seconds[,runs]): every target in turn, never stopping at
# a failure, each until the seconds are up or (if given) it has run that
# many inputs, whichever comes first.  A target passes when libFuzzer exits
# 0 (no crash, leak, timeout, out-of-memory or failed invariant).  The first
# corpus folder is where it writes what it finds; seeds in the tree are read
# only.  At the end one table, a row per target, from its log: inputs run,
# their rate over the whole run (start-up and seeds included), libFuzzer's
# last cov: and ft: figures (edges and features covered) and corpus
# (units/bytes), and the result; the same table is kept in
# $(FUZZ_DIR)/summary.txt.
fuzz-args = $(FUZZ_FLAGS) -max_len=$(or $(FUZZ_MAXLEN_$(1)),16384) -max_total_time=$(2) $(if $(3),-runs=$(3)) \
            -artifact_prefix=$(FUZZ_DIR)/crashes/$(1)- $(FUZZ_DIR)/corpus/$(1) $(FUZZ_SEEDS_$(1))
define fuzz-run
	@$(MAKE) -k --no-print-directory $(FUZZ_BINS) || echo "fuzz: some fuzzers did not build"; \
	mkdir -p $(B)/results $(FUZZ_DIR)/crashes; rm -f $(B)/results/fuzz.txt $(FUZZ_DIR)/summary.txt; \
	pass=0; fail=0; \
	row() { printf '%-26s %11s %8s %5s %6s %12s  %s\n' "$$@" >> $(FUZZ_DIR)/summary.txt; }; \
	run() { \
	  t=$$1; shift; log=$(FUZZ_DIR)/$$t.log; \
	  echo "=== $$t ($(1) s$(if $(2), or $(2) inputs))"; \
	  if [ ! -x $(FUZZ_DIR)/bin/$$t ]; then \
	    echo "$$t: did not build"; fail=$$((fail + 1)); row $$t - - - - - "did not build"; return; \
	  fi; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  t0=$$(date +%s%N); $(FUZZ_DIR)/bin/$$t "$$@" > $$log 2>&1; st=$$?; t1=$$(date +%s%N); \
	  grep -E '^(INFO: seed corpus|#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' $$log; \
	  if [ $$st -eq 0 ]; then \
	    pass=$$((pass + 1)); res=passed; echo "$$t: passed"; \
	  else \
	    fail=$$((fail + 1)); res="FAILED (exit status $$st)"; \
	    grep -E -A25 '^==[0-9]+==ERROR|runtime error|^SUMMARY|deadly signal|Test unit written' $$log | head -n 60; \
	    echo "$$t: FAILED (exit status $$st; full log $$log)"; \
	  fi; \
	  last=$$(grep -E '^#[0-9]+[[:space:]].* cov: ' $$log | tail -n 1); \
	  n=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | grep . || echo -); \
	  row $$t "$$n" "$$([ "$$n" = - ] && echo - || echo "$$n $$t0 $$t1" | awk '{ printf "%.0f", $$1 * 1e9 / ($$3 - $$2) }')" \
	      "$$(echo "$$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p' | grep . || echo -)" \
	      "$$(echo "$$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p' | grep . || echo -)" \
	      "$$(echo "$$last" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' | grep . || echo -)" "$$res"; \
	}; \
	row target inputs exec/s cov ft corpus result; \
	$(foreach t,$(FUZZ_TARGETS),run $(t) $(call fuzz-args,$(t),$(1),$(2));) \
	echo; cat $(FUZZ_DIR)/summary.txt; \
	echo "fuzz: $$pass passed, $$fail failed" | tee $(B)/results/fuzz.txt; \
	[ "$$fail" -eq 0 ]
endef

check-fuzz: $(FUZZ_DIR)/corpus/.stamp
	$(call fuzz-run,$(FUZZ_SHORT))

fuzz: $(FUZZ_DIR)/corpus/.stamp
	$(call fuzz-run,$(FUZZ_SECONDS),$(FUZZ_RUNS))
