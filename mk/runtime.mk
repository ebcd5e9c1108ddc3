# mk/runtime.mk: the hpm command and agent (runtime/ and its rooms
# hotpatch/, boot/, update/), and the hotpatch benchmark.
#
#   $(B)/runtime/hpm                 the host command and agent
#   make bench-hotpatch              pause / scale / call-cost figures
#
# Its tests are built and run by mk/tests.mk (unit tests of the rooms,
# pytest suites tests/hotpatch and tests/lifecycle) and mk/fuzz.mk (the
# fuzzers of its parsers); the hotpatch engine's own unit test is below.
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

.PHONY: bench-hotpatch
bench-hotpatch: $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(B)/tools/hpm-sign
	HPM_BUILD=$(B) $(PYTHON) tests/hotpatch/bench.py

# cmocka unit tests of the runtime units (payload parser, redirection bytes,
# prologue relocation, spans, the remote-call stub), under ASan+UBSan.
#   make check-hotpatch-unit  -> $(B)/results/hotpatch-unit.txt
HP_UNIT_BIN := $(B)/san/tests/hotpatch/test_hotpatch_units
$(HP_UNIT_BIN): tests/hotpatch/unit/test_hotpatch_units.c runtime/hotpatch/engine.c host/payload.c host/x86.c $(RT_HDRS) | $(DEPS_STAMP)
	@rm -f $@; mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(RT_CFLAGS) tests/hotpatch/unit/test_hotpatch_units.c host/payload.c host/x86.c \
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
