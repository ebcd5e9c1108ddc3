# mk/runtime.mk: the hpm command and agent (runtime/ and its rooms
# hotpatch/, boot/, update/), the hotpatch tests, fuzzers and benchmark.
#
#   $(B)/runtime/hpm                 the host command and agent
#   make check-hotpatch              pytest tests/hotpatch -> $(B)/results/hotpatch.xml
#   make check-fuzz-hotpatch         short libFuzzer runs (payload+ELF, journal) -> $(B)/results/fuzz-hotpatch.txt
#   make bench-hotpatch              pause / scale / call-cost figures
#   make check-lifecycle             fuzz_bootvars (short run), then pytest tests/lifecycle (status,
#                                    mark-good, stage, rollback against a fake efivarfs + ESP)
#                                    -> $(B)/results/lifecycle.xml
RT_CFLAGS := -Icore/include -Ihost -Iruntime
RT_SRCS := $(wildcard runtime/*.c runtime/*/*.c)
RT_HDRS := $(wildcard runtime/*.h runtime/*/*.h) $(HOSTLIB_HDRS)
RT_LIBS := -lelf -lZydis -lcurl -lsqlite3 -linih -lcjson

$(B)/host/runtime/%.o: runtime/%.c $(RT_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(RT_CFLAGS) -c $< -o $@

# hpm links core and the host library, never the signer (tools/lib).
$(B)/runtime/hpm: $(patsubst runtime/%.c,$(B)/host/runtime/%.o,$(RT_SRCS)) $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(HOSTLIB_LIBS) -lfdt -lcrypto $(RT_LIBS)

ALL_TARGETS += $(B)/runtime/hpm

# libFuzzer target for the payload and ELF parsers.
$(B)/fuzz/fuzz_hotpatch_payload: tests/fuzz/fuzz_hotpatch_payload.c host/payload.c host/payload.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu11 -g -O1 -Wall -Wextra -Werror -Ihost -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all tests/fuzz/fuzz_hotpatch_payload.c host/payload.c -o $@

# libFuzzer target for the per-process journal reader.
$(B)/fuzz/fuzz_journal: tests/fuzz/fuzz_journal.c runtime/hotpatch/journal.c host/hex.c core/util.c $(RT_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu11 -g -O1 -Wall -Wextra -Werror $(RT_CFLAGS) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all tests/fuzz/fuzz_journal.c runtime/hotpatch/journal.c host/hex.c core/util.c -o $@

FUZZ_HOTPATCH_SECONDS ?= 30
.PHONY: check-fuzz-hotpatch check-hotpatch bench-hotpatch
check-fuzz-hotpatch: $(B)/fuzz/fuzz_hotpatch_payload $(B)/fuzz/fuzz_journal
	@mkdir -p $(B)/results $(B)/fuzz/corpus-hotpatch $(B)/fuzz/corpus-journal
	@pass=0; fail=0; \
	if $(B)/fuzz/fuzz_hotpatch_payload -max_total_time=$(FUZZ_HOTPATCH_SECONDS) -max_len=65536 \
	     $(B)/fuzz/corpus-hotpatch tests/fuzz/corpus-hotpatch 2>$(B)/fuzz/fuzz-hotpatch.log; then \
	  pass=$$((pass + 1)); else tail -30 $(B)/fuzz/fuzz-hotpatch.log; fail=$$((fail + 1)); fi; \
	if $(B)/fuzz/fuzz_journal -max_total_time=$(FUZZ_HOTPATCH_SECONDS) -max_len=8192 \
	     $(B)/fuzz/corpus-journal tests/fuzz/corpus-journal 2>$(B)/fuzz/fuzz-journal.log; then \
	  pass=$$((pass + 1)); else tail -30 $(B)/fuzz/fuzz-journal.log; fail=$$((fail + 1)); fi; \
	echo "fuzz-hotpatch: $$pass passed, $$fail failed" | tee $(B)/results/fuzz-hotpatch.txt; \
	[ $$fail -eq 0 ]

check-hotpatch: $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(B)/tools/hpm-sign
	@mkdir -p $(B)/results
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q -p no:cacheprovider --junitxml=$(B)/results/hotpatch.xml tests/hotpatch

# libFuzzer target for the parsers of hpmboot.efi's published variables.
$(B)/fuzz/fuzz_bootvars: tests/fuzz/fuzz_bootvars.c runtime/boot/bootvars.c core/bootif.c core/bootstate.c core/util.c core/strings.c $(RT_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu11 -g -O1 -Wall -Wextra -Werror $(RT_CFLAGS) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all tests/fuzz/fuzz_bootvars.c runtime/boot/bootvars.c core/bootif.c core/bootstate.c core/util.c core/strings.c -o $@

# The lifecycle suite: a short fuzz run of the variable parsers (a failure
# fails the target, so check.sh counts it), then the whole pytest folder
# tests/lifecycle (boot side, catalog and sources, policy, history,
# assess/install/agent with the demo service as the patched process).
# check-catalog and check-lifecycle-pol run parts of it on their own.
FUZZ_BOOTVARS_SECONDS ?= 15
.PHONY: check-lifecycle
check-lifecycle: $(B)/runtime/hpm $(B)/tools/hpm-sign $(B)/fuzz/fuzz_bootvars \
                 $(B)/demo/hpm-demo-service $(B)/demo/fix.bin
	@mkdir -p $(B)/results $(B)/fuzz/corpus-bootvars
	@st=0; \
	if ! $(B)/fuzz/fuzz_bootvars -max_total_time=$(FUZZ_BOOTVARS_SECONDS) -max_len=4096 -artifact_prefix=$(B)/fuzz/ \
	     $(B)/fuzz/corpus-bootvars tests/fuzz/corpus-bootvars 2>$(B)/fuzz/fuzz-bootvars.log; then \
	  tail -30 $(B)/fuzz/fuzz-bootvars.log; echo "fuzz_bootvars: FAILED"; st=1; fi; \
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q -p no:cacheprovider --junitxml=$(B)/results/lifecycle.xml tests/lifecycle || st=1; \
	exit $$st

bench-hotpatch: $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(B)/tools/hpm-sign
	HPM_BUILD=$(B) $(PYTHON) tests/hotpatch/bench.py

# cmocka unit tests of the runtime units (payload parser, redirection bytes,
# prologue relocation, spans, the remote-call stub), under ASan+UBSan.
#   make check-hotpatch-unit  -> $(B)/results/hotpatch-unit.txt
HP_UNIT_BIN := $(B)/san/tests/runtime/hotpatch/test_hotpatch_units
HP_UNIT_OBJS := $(addprefix $(B)/san/runtime/hotpatch/,ptrace.o redirect.o hooks.o) \
                $(B)/san/host/payload.o $(B)/san/host/x86.o
$(HP_UNIT_BIN): tests/runtime/hotpatch/test_hotpatch_units.c $(HP_UNIT_OBJS) $(RT_HDRS) | $(DEPS_STAMP)
	@rm -f $@; mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(RT_CFLAGS) tests/runtime/hotpatch/test_hotpatch_units.c $(HP_UNIT_OBJS) \
	  -o $@ -fsanitize=address,undefined -lcmocka $(RT_LIBS)

.PHONY: check-hotpatch-unit
check-hotpatch-unit:
	@mkdir -p $(B)/results; rm -f $(B)/results/hotpatch-unit.txt; \
	if ! $(MAKE) --no-print-directory $(HP_UNIT_BIN); then \
	  echo "hotpatch-unit: 0 passed, 1 failed" | tee $(B)/results/hotpatch-unit.txt; exit 1; fi; \
	log=$(HP_UNIT_BIN).log; \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(HP_UNIT_BIN) 2>&1 | tee $$log; \
	st=$${PIPESTATUS[0]}; \
	run=$$(sed -n 's/^\[==========\] Running \([0-9][0-9]*\) test(s)\..*/\1/p' $$log | head -n1); \
	ok=$$(grep -c '^\[       OK \]' $$log); \
	if [ -z "$$run" ]; then f=1; ok=0; else f=$$((run - ok)); \
	  if [ "$$st" -ne 0 ] && [ "$$f" -eq 0 ]; then f=1; fi; fi; \
	echo "hotpatch-unit: $$ok passed, $$f failed" | tee $(B)/results/hotpatch-unit.txt; \
	[ "$$f" -eq 0 ]

# Catalog and sources end to end (issue 6 part B): hpm-sign builds the
# releases and catalogs, a loopback HTTP server (in the test) serves them.
#   make check-catalog  -> $(B)/results/catalog.xml
.PHONY: check-catalog
check-catalog: $(B)/runtime/hpm $(B)/tools/hpm-sign
	@mkdir -p $(B)/results
	HPM=$(B)/runtime/hpm HPM_SIGN=$(B)/tools/hpm-sign $(PYTHON) -m pytest -q -p no:cacheprovider \
	  --junitxml=$(B)/results/catalog.xml tests/lifecycle/test_catalog.py
# Host lifecycle: policy, windows, decisions, enrollment, history (part C of
# issue 6).  Sanitizer objects of runtime/ for the cmocka tests in tests/unit/,
# and the pytest suite tests/lifecycle/test_history.py etc.
#   make check-lifecycle-pol   -> $(B)/results/lifecycle-pol.xml
$(B)/san/runtime/%.o: runtime/%.c $(RT_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(RT_CFLAGS) -c $< -o $@

POL_UNIT_OBJS := $(B)/san/runtime/update/policy.o $(B)/san/runtime/update/windows.o $(B)/san/runtime/update/decide.o
UNIT_EXTRA_CFLAGS_test_policy := -Iruntime -Ihost
UNIT_EXTRA_OBJS_test_policy   := $(POL_UNIT_OBJS) -linih
$(B)/san/tests/unit/test_policy: $(POL_UNIT_OBJS)
UNIT_EXTRA_CFLAGS_test_decide := -Iruntime -Ihost
UNIT_EXTRA_OBJS_test_decide   := $(POL_UNIT_OBJS) -linih
$(B)/san/tests/unit/test_decide: $(POL_UNIT_OBJS)
HIST_UNIT_OBJS := $(B)/san/runtime/update/history.o $(B)/san/runtime/update/enroll.o $(B)/san/runtime/clock.o
UNIT_EXTRA_CFLAGS_test_history := -Iruntime -Ihost
UNIT_EXTRA_OBJS_test_history   := $(HIST_UNIT_OBJS) $(POL_UNIT_OBJS) -lsqlite3 -linih
$(B)/san/tests/unit/test_history: $(HIST_UNIT_OBJS) $(POL_UNIT_OBJS)

.PHONY: check-lifecycle-pol
check-lifecycle-pol: $(B)/runtime/hpm
	@mkdir -p $(B)/results
	HPM_BUILD=$(B) $(PYTHON) -m pytest -q -p no:cacheprovider --junitxml=$(B)/results/lifecycle-pol.xml \
	  tests/lifecycle/test_history.py tests/lifecycle/test_policy_cli.py

# libFuzzer target for the policy file and enrollment state parsers.
#   make check-fuzz-policy   -> $(B)/results/fuzz-policy.txt
FUZZ_POLICY_SECONDS ?= 15
FUZZ_POLICY_SRCS := tests/fuzz/fuzz_policy.c runtime/update/policy.c runtime/update/windows.c runtime/update/enroll.c
$(B)/fuzz/fuzz_policy: $(FUZZ_POLICY_SRCS) core/strings.c core/util.c $(RT_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE $(RT_CFLAGS) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all $(FUZZ_POLICY_SRCS) core/strings.c core/util.c -o $@ -linih
.PHONY: check-fuzz-policy
check-fuzz-policy: $(B)/fuzz/fuzz_policy
	@mkdir -p $(B)/results $(B)/fuzz/corpus-policy
	@if $(B)/fuzz/fuzz_policy -max_total_time=$(FUZZ_POLICY_SECONDS) -max_len=4096 \
	     $(B)/fuzz/corpus-policy tests/fuzz/corpus-policy 2>$(B)/fuzz/fuzz-policy.log; then \
	  echo "fuzz-policy: 1 passed, 0 failed" | tee $(B)/results/fuzz-policy.txt; \
	else tail -30 $(B)/fuzz/fuzz-policy.log; echo "fuzz-policy: 0 passed, 1 failed" | tee $(B)/results/fuzz-policy.txt; exit 1; fi

# test_bootvars includes runtime/boot/{bootvars,efivar}.c (to be linked instead).
UNIT_EXTRA_CFLAGS_test_bootvars := -Iruntime -Ihost
