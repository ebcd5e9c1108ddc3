# mk/bench.mk: benchmarks (figures, not pass/fail).
#
#   make bench   verify throughput of core's host build (-O2,
#                $(B)/host/libhpmcore.a) on a container with a BENCH_MIB
#                (default 256) MiB embedded payload, against sha256sum and
#                openssl dgst -sha256 on the same payload file, best of
#                BENCH_RUNS (default 3).  Files live in $(B)/bench.
#                Then the boot stage's SHA-256 paths natively (bench_sha:
#                mbedTLS portable, SHA-NI, OpenSSL), the hotpatch figures
#                (bench-hotpatch, mk/runtime.mk: pause, threads, idle,
#                call), the boot figures (bench-boot, QEMU) and the kernel
#                part's figures (bench-kernel, QEMU) and the fleet's
#                (bench-fleet, a 3-member etcd on loopback).
#
#   make bench-kernel  livepatch transition time p50/p99 over
#                BENCH_KERNEL_CYCLES (default 20) apply/replace/revert cycles
#                in a guest under a busy /proc/version load, and the load's
#                throughput dip during the transitions (bench/kernel_bench.py;
#                about 3 minutes under TCG).
#
#   $(B)/bench/bench_stop  the bare stop/resume of a process's threads with
#                runtime/hotpatch/ptrace.c's own calls (no patching): the
#                "threads" part of bench-hotpatch sets hpm's pause beside it,
#                the "command" part sets hpm's whole command beside it.
#
# Knobs (environment of bench-hotpatch): HPM_BENCH_ONLY picks parts
# (default pause,threads,idle,call,command), HPM_BENCH_CYCLES cycles per figure
# (default 40), HPM_BENCH_THREADS the busy-thread counts of "threads"
# (default 1,4,16,64,4+60; BUSY+IDLE adds idle threads), HPM_BENCH_PROCS the
# idle processes (default 1000).
# The threads part took 3.5 minutes at 40 cycles on 2 loaded shared CPUs,
# most of it at 64 threads (HPM_BENCH_THREADS=1,4,16 HPM_BENCH_CYCLES=10
# for a quick look).

BENCH_MIB  ?= 256
BENCH_RUNS ?= 3
BENCH_DIR  := $(B)/bench
BENCH_KERNEL_CYCLES ?= 20

$(BENCH_DIR)/bench_verify: bench/bench_verify.c $(B)/host/libhpmcore.a $(B)/host/libhpmw.a $(B)/host/libhpmhost.a $(B)/host/libhpmhost.a \
                           $(CORE_HDRS) $(HPMW_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(TOOLS_CFLAGS) $< -o $@ $(B)/host/libhpmw.a $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(HPMW_LIBS)

$(BENCH_DIR)/bench_sha: bench/bench_sha.c $(B)/host/libhpmcore.a $(CORE_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Icore/include $< -o $@ $(B)/host/libhpmcore.a $(HPMW_LIBS)

# ptrace.c and the hooks it reads, nothing else of hpm: the code hpm stops
# threads with.
$(BENCH_DIR)/bench_stop: bench/bench_stop.c $(B)/host/runtime/hotpatch/ptrace.o $(B)/host/runtime/hotpatch/hooks.o \
                         $(RT_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(RT_CFLAGS) $< -o $@ $(filter %.o,$^)

.PHONY: bench
bench: $(BENCH_DIR)/bench_verify $(BENCH_DIR)/bench_sha
	@bash bench/run.sh $(BENCH_DIR)/bench_verify $(BENCH_DIR) $(BENCH_MIB) $(BENCH_RUNS)
	@$(BENCH_DIR)/bench_sha 64 $(BENCH_RUNS)
	@$(MAKE) -s bench-hotpatch
	@$(MAKE) -s bench-boot
	@$(MAKE) -s bench-kernel
	@$(MAKE) -s bench-fleet

.PHONY: bench-kernel
bench-kernel: $(B)/runtime/hpm $(B)/tools/hpm-sign $(HPMBOOT_DEV_EFI)
	@HPM_BUILD=$(B) $(PYTHON) bench/kernel_bench.py --cycles $(BENCH_KERNEL_CYCLES)

# The fleet benchmark: bench/fleet_sim runs many hosts' side of a rollout
# (hpm's fleet room: every runtime object but main.o) in one process;
# bench/fleet_bench.py starts a 3-member etcd and the operator around it.
#   make bench-fleet [BENCH_FLEET_HOSTS=1000] [BENCH_FLEET_POLL_MS=10000]
BENCH_FLEET_HOSTS   ?= 1000
BENCH_FLEET_POLL_MS ?= 10000
$(BENCH_DIR)/fleet_sim: bench/fleet_sim.c $(filter-out $(B)/host/runtime/main.o,$(patsubst runtime/%.c,$(B)/host/runtime/%.o,$(RT_SRCS))) \
                        $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a $(RT_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(RT_CFLAGS) $< -o $@ $(filter %.o,$^) $(B)/host/libhpmhost.a $(B)/host/libhpmcore.a \
	  $(HOSTLIB_LIBS) -lfdt -lcrypto $(RT_LIBS) $(RT_SD_LIBS) -lpthread

.PHONY: bench-fleet
bench-fleet: $(BENCH_DIR)/fleet_sim $(B)/runtime/hpm $(B)/tools/hpm-sign
	@HPM_BUILD=$(B) $(PYTHON) bench/fleet_bench.py --hosts $(BENCH_FLEET_HOSTS) --poll-ms $(BENCH_FLEET_POLL_MS)
