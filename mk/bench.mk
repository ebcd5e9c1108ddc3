# mk/bench.mk: benchmarks (figures, not pass/fail).
#
#   make bench   verify throughput of core's host build (-O2,
#                $(B)/host/libhpmcore.a) on a container with a BENCH_MIB
#                (default 256) MiB embedded payload, against sha256sum and
#                openssl dgst -sha256 on the same payload file, best of
#                BENCH_RUNS (default 3).  Files live in $(B)/bench.
#                Then the boot stage's SHA-256 paths natively (bench_sha:
#                mbedTLS portable, SHA-NI, OpenSSL), the hotpatch figures
#                and the boot figures (bench-boot, QEMU).

BENCH_MIB  ?= 256
BENCH_RUNS ?= 3
BENCH_DIR  := $(B)/bench

$(BENCH_DIR)/bench_verify: bench/bench_verify.c $(B)/host/libhpmcore.a $(B)/host/libhpmw.a $(B)/host/libhpmhost.a $(B)/host/libhpmhost.a \
                           $(CORE_HDRS) $(HPMW_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(TOOLS_CFLAGS) $< -o $@ $(B)/host/libhpmw.a $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(HPMW_LIBS)

$(BENCH_DIR)/bench_sha: bench/bench_sha.c $(B)/host/libhpmcore.a $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Icore/include $< -o $@ $(B)/host/libhpmcore.a $(HPMW_LIBS)

.PHONY: bench
bench: $(BENCH_DIR)/bench_verify $(BENCH_DIR)/bench_sha
	@bash bench/run.sh $(BENCH_DIR)/bench_verify $(BENCH_DIR) $(BENCH_MIB) $(BENCH_RUNS)
	@$(BENCH_DIR)/bench_sha 64 $(BENCH_RUNS)
	@$(MAKE) -s bench-hotpatch
	@$(MAKE) -s bench-boot
