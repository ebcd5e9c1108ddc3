# mk/tests.mk: cmocka unit tests of core/ (tests/unit/), under ASan+UBSan.
#
#   make check-unit   build and run every tests/unit/test_*.c binary; print
#                     cmocka's output; write "unit: N passed, M failed"
#                     (cmocka test counts summed over the binaries) to
#                     $(B)/results/unit.txt; exit non-zero if anything failed.
#   make unit         build the test binaries only.
#
# Each test_*.c is one binary; tests/unit/testlib.c is #included by every
# one of them (shared helpers, all static).  Linked against the sanitizer
# builds of core and of the hpmw writer.

UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
UNIT_BINS    := $(patsubst tests/unit/%.c,$(B)/san/tests/unit/%,$(UNIT_SRCS))
UNIT_CFLAGS  := $(SAN_CFLAGS) $(TOOLS_CFLAGS)
UNIT_LDFLAGS := -fsanitize=address,undefined
UNIT_LIBS    := $(B)/san/libhpmw.a $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a $(HPMW_LIBS) -lcmocka
UNIT_ENV     := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# A test that needs more than core and hpmw (say tests/unit/test_foo.c on
# some runtime/ object) sets, in its own mk file:
#   UNIT_EXTRA_CFLAGS_test_foo := -Iruntime
#   UNIT_EXTRA_OBJS_test_foo   := $(B)/san/runtime/foo.o
#   $(B)/san/tests/unit/test_foo: $(B)/san/runtime/foo.o
$(B)/san/tests/unit/%: tests/unit/%.c tests/unit/testlib.c $(CORE_HDRS) $(HPMW_HDRS) \
                       $(B)/san/libhpmw.a $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a | $(DEPS_STAMP)
	@rm -f $@; mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) $(UNIT_EXTRA_CFLAGS_$*) $< $(UNIT_EXTRA_OBJS_$*) -o $@ $(UNIT_LDFLAGS) $(UNIT_LIBS)

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
check-unit: $(B)/san/libhpmw.a $(B)/san/libhpmhost.a $(B)/san/libhpmcore.a
	@$(MAKE) -k --no-print-directory $(UNIT_BINS) || echo "check-unit: some test binaries did not build"; \
	mkdir -p $(B)/results; rm -f $(B)/results/unit.txt; \
	pass=0; fail=0; \
	for t in $(UNIT_BINS); do \
	  name=$${t##*/}; log=$$t.log; \
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
