# mk/tests.mk: the cmocka unit tests, under ASan+UBSan, and the pytest suites.
#
#   make check-unit       build and run every unit test binary (UNIT_DIRS);
#                         print cmocka's output; write "unit: N passed, M failed"
#                         (cmocka test counts summed over the binaries) to
#                         $(B)/results/unit.txt; exit non-zero if anything failed.
#   make unit             build the unit test binaries only.
#   make check-cli        pytest tests/cli (hpm-sign; the command-line
#                         contract of hpm and hpm-patchgen; make install, the
#                         man pages and completion) -> $(B)/results/cli.xml
#   make check-deb        pytest tests/deb: `make deb`, lintian (no error), the
#                         packages' contents against `make install`, a dpkg
#                         install into a scratch root (fakeroot, no chroot)
#                         and the installed programs -> $(B)/results/deb.xml
#   make check-hotpatch   pytest tests/hotpatch            -> $(B)/results/hotpatch.xml
#   make check-patchgen   pytest tests/patchgen: hpm-patchgen diff on small crafted
#                         programs, and fixes applied end to end (one calling libc: imports) -> $(B)/results/patchgen.xml
#   make check-realprog   pytest tests/realprog: three Debian 12 programs built the
#                         Debian way (tinyproxy as its .deb + -dbgsym, memcached,
#                         rinetd), each hotpatched from a real upstream fix under
#                         a load generator, then reverted; the builds are kept in
#                         $(B)/realprog (~70 s from scratch on 2 idle cores, ~25 s built)
#                         -> $(B)/results/realprog.xml
#   make check-lifecycle  pytest tests/lifecycle (status, mark-good, stage,
#                         rollback, catalog and sources, policy, history,
#                         assess/install/agent)            -> $(B)/results/lifecycle.xml
#   make check-catalog, check-lifecycle-pol   parts of tests/lifecycle on their own.
#   make check-fleet      pytest tests/fleet: the etcd client and rollouts of
#                         simulated hosts against a real 3-member etcd cluster on loopback -> $(B)/results/fleet.xml
#   make check-firmware   pytest firmware-tests (QEMU + OVMF) -> $(B)/results/firmware.xml
#   make check-fleet-vm   NOT part of `make check`: a baseline rollout through etcd on two
#                         QEMU hosts booted by hpmboot.efi (firmware-tests/long_fleet_vm.py,
#                         about a minute) -> $(B)/results/fleet-vm.xml
#   make check-long       NOT part of `make check`: the crash-safety scenarios
#                         long (scripts/check-long.sh): hpm SIGKILLed at random
#                         instants LONG_SIGKILL_RUNS times and killed at every
#                         step LONG_CRASH_RUNS times (200 each, in rounds of
#                         LONG_ROUND = 50, each round its own HPM_CRASH_SEED), the
#                         power cut during hpmboot.efi's state write
#                         LONG_POWERCUT_RUNS times (100, QEMU + OVMF, two at a
#                         time), hpm killed during a livepatch load, replace
#                         or revert LONG_KKILL_RUNS times (60, one QEMU guest);
#                         seed LONG_SEED (default: the time, printed).
#                         Figures (runs, kills inside a transition, outcomes
#                         old/new, failures with the command replaying each)
#                         -> $(B)/results/long.jsonl, summed up in
#                         $(B)/results/long.txt.  20 to 35 minutes on 2 shared cores.
#
# The unit tests mirror the tree: tests/X/test_*.c tests the library room X/
# and links its sanitizer build, never includes a .c:
#   tests/core/            libhpmcore.a (and tests/core/testlib.c, the shared
#                          fixtures: keys, containers signed with the signer
#                          tools/lib, a manifest tree builder) and
#                          tests/tmpdir.c (temporary directories): compiled
#                          once into libtestlib.a
#   tests/host/            libhpmhost.a
#   tests/runtime/<room>/  the objects of runtime/<room>/ it tests, listed in
#                          UNIT_OBJS_<test> below, plus the libraries
# Each test_*.c is one binary, built by the one rule below.  A test needing
# objects or system libraries beyond its room's sets UNIT_OBJS_<test> and
# UNIT_SYSLIBS_<test>.

UNIT_DIRS    := tests/core tests/host tests/runtime/boot tests/runtime/hotpatch tests/runtime/update \
                tests/runtime/fleet
UNIT_SRCS    := $(wildcard $(addsuffix /test_*.c,$(UNIT_DIRS)))
UNIT_BINS    := $(patsubst %.c,$(B)/san/%,$(UNIT_SRCS))
UNIT_CFLAGS  := $(SAN_CFLAGS) -Icore/include -Ihost -Iruntime -Itools/lib -Itests -Itests/core
UNIT_LDFLAGS := -fsanitize=address,undefined
UNIT_ENV     := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

TESTLIB      := $(B)/san/tests/libtestlib.a
# Archives, in link order: a binary takes only the members it references.
UNIT_ARCHIVES := $(TESTLIB) $(B)/san/libhpmw.a $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a
UNIT_LIBS    := $(UNIT_ARCHIVES) $(HPMW_LIBS) -lcmocka

TESTLIB_OBJS := $(B)/san/tests/core/testlib.o $(B)/san/tests/core/bsfake.o $(B)/san/tests/tmpdir.o
$(TESTLIB_OBJS): $(B)/san/tests/%.o: tests/%.c tests/tmpdir.h tests/core/testlib.h tests/core/bsfake.h tests/core/manifest_cases.h $(CORE_HDRS) $(HPMW_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) -c $< -o $@
$(TESTLIB): $(TESTLIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Sanitizer objects of runtime/ for the tests of its rooms.
$(B)/san/runtime/%.o: runtime/%.c $(RT_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(RT_CFLAGS) -c $< -o $@

# What each runtime test links besides the archives.
UPDATE_POLICY_OBJS := $(patsubst %,$(B)/san/runtime/update/%.o,policy windows decide)
UNIT_OBJS_test_policy     := $(UPDATE_POLICY_OBJS)
UNIT_OBJS_test_decide     := $(UPDATE_POLICY_OBJS)
UNIT_OBJS_test_history    := $(patsubst %,$(B)/san/runtime/%.o,update/history update/enroll clock) \
                             $(UPDATE_POLICY_OBJS)
UNIT_OBJS_test_bootvars   := $(patsubst %,$(B)/san/runtime/boot/%.o,bootvars efivar)
UNIT_OBJS_test_hotpatch_units := $(patsubst %,$(B)/san/runtime/hotpatch/%.o,ptrace redirect hooks dso transition units)
UNIT_SYSLIBS_test_hotpatch_units := $(RT_LIBS) $(RT_SD_LIBS)
UNIT_OBJS_test_journal    := $(B)/san/runtime/hotpatch/journal.o
UNIT_OBJS_test_kjournal   := $(B)/san/runtime/hotpatch/kjournal.o
UNIT_SYSLIBS_test_policy  := -linih
UNIT_SYSLIBS_test_decide  := -linih
UNIT_SYSLIBS_test_history := -lsqlite3 -linih
UNIT_SYSLIBS_test_json    := -lcjson
UNIT_OBJS_test_etcd       := $(B)/san/runtime/fleet/etcd.o $(B)/san/runtime/http.o $(B)/san/runtime/dynlib.o
UNIT_SYSLIBS_test_etcd    := -lcjson -lm
UNIT_OBJS_test_model      := $(B)/san/runtime/fleet/model.o $(B)/san/runtime/fleet/etcd.o $(B)/san/runtime/http.o $(B)/san/runtime/dynlib.o
UNIT_SYSLIBS_test_model   := -lcjson -lm
UNIT_OBJS_test_serve      := $(patsubst %,$(B)/san/runtime/fleet/%.o,status page metrics lockreq model etcd) \
                             $(patsubst %,$(B)/san/runtime/%.o,http dynlib jsonout msg)
UNIT_SYSLIBS_test_serve   := -lcjson -lm

UNIT_HDRS := tests/tmpdir.h tests/core/testlib.h tests/core/manifest_cases.h tests/core/bsfake.h $(CORE_HDRS) $(HOSTLIB_HDRS) $(HPMW_HDRS) $(RT_HDRS)

# The one rule for every unit test binary.
$(UNIT_BINS): $(B)/san/%: %.c $(UNIT_ARCHIVES) $(UNIT_HDRS) | $(DEPS_STAMP)
	@rm -f $@; mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) $< $(UNIT_OBJS_$(@F)) -o $@ $(UNIT_LDFLAGS) $(UNIT_LIBS) $(UNIT_SYSLIBS_$(@F))
$(foreach t,$(UNIT_BINS),$(eval $(t): $(UNIT_OBJS_$(notdir $(t)))))

.PHONY: unit check-unit
unit: $(UNIT_BINS)

# Counting: a binary announces "[==========] Running N test(s)." and prints
# "[       OK ]" per passing test; every announced test without an OK line is
# a failure (failed assertion, error, or a sanitizer abort that ended the
# binary early).  A binary that exits non-zero without any failed test
# (LeakSanitizer report at exit, say) or never announces its tests counts
# as one more failure, so a broken binary can never look green.  The
# binaries are built with -k first: one that does not compile (another
# suite's work in progress, say) counts as a failure; the others still run.
check-unit: $(UNIT_ARCHIVES)
	@$(MAKE) -k --no-print-directory $(UNIT_BINS) || echo "check-unit: some test binaries did not build"; \
	mkdir -p $(B)/results; rm -f $(B)/results/unit.txt; \
	pass=0; fail=0; \
	for t in $(UNIT_BINS); do \
	  name=$${t#$(B)/san/tests/}; log=$$t.log; \
	  echo "=== $$name"; \
	  if [ ! -x "$$t" ]; then echo "$$name: did not build"; fail=$$((fail + 1)); continue; fi; \
	  $(UNIT_ENV) "$$t" 2>&1 | tee "$$log"; st=$${PIPESTATUS[0]}; \
	  run=$$(sed -n 's/^\[==========\] Running \([0-9][0-9]*\) test(s)\..*/\1/p' "$$log" | head -n1); \
	  ok=$$(grep -c '^\[       OK \]' "$$log"); \
	  if [ -z "$$run" ]; then \
	    echo "$$name: no tests were run (exit status $$st)"; f=1; ok=0; \
	  else \
	    f=$$((run - ok)); \
	    if [ "$$st" -ne 0 ] && [ "$$f" -eq 0 ]; then \
	      echo "$$name: exit status $$st although every test passed (sanitizer report at exit?)"; f=1; \
	    fi; \
	  fi; \
	  pass=$$((pass + ok)); fail=$$((fail + f)); \
	done; \
	echo "unit: $$pass passed, $$fail failed" | tee $(B)/results/unit.txt; \
	[ "$$fail" -eq 0 ]

# ---- pytest suites ------------------------------------------------------------
# $(call pytest,results-name,paths): one run, JUnit XML into $(B)/results.
# The tests find the build through $HPM_BUILD (tests/hpmtest.py).
define pytest
	@mkdir -p $(B)/results
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q -p no:cacheprovider --junitxml=$(B)/results/$(1).xml $(2)
endef

# The driver of the fleet tests: the etcd client under ASan+UBSan, one
# request per run (tests/fleet/etcdctl_hpm.c).
FLEET_CTL := $(B)/san/tests/fleet/etcdctl_hpm
$(FLEET_CTL): tests/fleet/etcdctl_hpm.c $(B)/san/runtime/fleet/etcd.o $(B)/san/runtime/http.o $(B)/san/runtime/dynlib.o $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a $(UNIT_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) $< $(B)/san/runtime/fleet/etcd.o $(B)/san/runtime/http.o $(B)/san/runtime/dynlib.o -o $@ $(UNIT_LDFLAGS) $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a -lcjson -lm
ALL_TARGETS += $(FLEET_CTL)

.PHONY: check-realprog
check-realprog: $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(B)/tools/hpm-sign $(DEPS_STAMP)
	@mkdir -p $(B)/results
	HPM_DEPS=$(DEPS) HPM_BUILD=$(B) $(PYTHON) -m pytest -q -s -p no:cacheprovider --junitxml=$(B)/results/realprog.xml tests/realprog
.PHONY: check-cli check-deb check-hotpatch check-patchgen check-lifecycle check-catalog check-lifecycle-pol check-fleet check-firmware check-fleet-vm check-long
check-cli: $(B)/tools/hpm-sign $(HPMBOOT_DEV_SIGNED_EFI) $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(INSTALL_DEPS)
	$(call pytest,cli,tests/cli)
check-deb: $(INSTALL_DEPS) $(DEPS_STAMP)
	$(call pytest,deb,tests/deb)
check-hotpatch: $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(B)/tools/hpm-sign
	$(call pytest,hotpatch,tests/hotpatch)
check-patchgen: $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(B)/tools/hpm-sign
	$(call pytest,patchgen,tests/patchgen)
check-lifecycle: $(B)/runtime/hpm $(B)/tools/hpm-sign $(B)/tools/hpm-patchgen $(B)/demo/hpm-demo-service $(B)/demo/hpm-demo-client $(B)/demo/fix.bin
	$(call pytest,lifecycle,tests/lifecycle)
check-catalog: $(B)/runtime/hpm $(B)/tools/hpm-sign
	$(call pytest,catalog,tests/lifecycle/test_catalog.py)
check-lifecycle-pol: $(B)/runtime/hpm
	$(call pytest,lifecycle-pol,tests/lifecycle/test_history.py tests/lifecycle/test_policy_cli.py)
check-fleet: $(FLEET_CTL) $(B)/runtime/hpm $(B)/tools/hpm-sign $(B)/tools/hpm-patchgen
	$(call pytest,fleet,tests/fleet)
check-firmware: all
	$(call pytest,firmware,firmware-tests)
check-fleet-vm: all
	$(call pytest,fleet-vm,firmware-tests/long_fleet_vm.py)

LONG_SEED          ?=
LONG_ROUND         ?= 50
LONG_SIGKILL_RUNS  ?= 200
LONG_CRASH_RUNS    ?= 200
LONG_POWERCUT_RUNS ?= 100
LONG_KKILL_RUNS    ?= 60
check-long: all
	@B="$(B)" PYTHON="$(PYTHON)" LONG_SEED="$(LONG_SEED)" LONG_ROUND="$(LONG_ROUND)" \
	  LONG_SIGKILL_RUNS="$(LONG_SIGKILL_RUNS)" LONG_CRASH_RUNS="$(LONG_CRASH_RUNS)" \
	  LONG_POWERCUT_RUNS="$(LONG_POWERCUT_RUNS)" LONG_KKILL_RUNS="$(LONG_KKILL_RUNS)" bash scripts/check-long.sh
