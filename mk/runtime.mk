# mk/runtime.mk: the hpm command and agent (runtime/ and its rooms
# hotpatch/, boot/, update/, fleet/), and the hotpatch benchmark.
#
#   $(B)/runtime/hpm                 the host command and agent
#   make bench-hotpatch              pause / threads / scale / call-cost figures
#                                    (knobs: mk/bench.mk)
#
# Its tests are built and run by mk/tests.mk (unit tests of the rooms,
# pytest suites tests/hotpatch and tests/lifecycle) and mk/fuzz.mk (the
# fuzzers of its parsers).
RT_CFLAGS := -Icore/include -Ihost -Iruntime
RT_SRCS := $(wildcard runtime/*.c runtime/*/*.c)
RT_HDRS := $(wildcard runtime/*.h runtime/*/*.h) $(HOSTLIB_HDRS)
# libcurl (update/source.c, fleet/etcd.c through http.c) and libmicrohttpd
# (fleet/serve.c) are not linked: runtime/dynlib.c loads them when a command
# first needs them (their headers are still used at build time).
RT_LIBS := -lelf -lZydis -lsqlite3 -linih -lcjson -lblkid
# libsystemd (sd_notify: runtime/service.c) goes into hpm only, not into the tests of its rooms.
RT_SD_LIBS := -lsystemd

$(B)/host/runtime/%.o: runtime/%.c $(RT_HDRS) $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(RT_CFLAGS) -c $< -o $@

# hpm links core and the host library, never the signer (tools/lib).
$(B)/runtime/hpm: $(patsubst runtime/%.c,$(B)/host/runtime/%.o,$(RT_SRCS)) $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(HOSTLIB_LIBS) -lfdt -lcrypto $(RT_LIBS) $(RT_SD_LIBS)

ALL_TARGETS += $(B)/runtime/hpm

.PHONY: bench-hotpatch
bench-hotpatch: $(B)/runtime/hpm $(B)/tools/hpm-patchgen $(B)/tools/hpm-sign $(B)/bench/bench_stop
	HPM_BUILD=$(B) $(PYTHON) tests/hotpatch/bench.py
