# make demo: the guided tour (grows with each part of hpm).
#
#   $(B)/demo/hpm-demo-service   the demo's service (demo/service.c, with a visible bug)
#   $(B)/demo/hpm-demo-client    keeps calling it and checks every answer
#   $(B)/demo/fix.bin            the hotpatch payload that fixes it (hpm-patchgen)
DEMO_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread -Wl,--build-id \
               -fpatchable-function-entry=16,14

$(B)/demo/hpm-demo-%: demo/%.c
	@mkdir -p $(@D)
	$(CC) $(DEMO_CFLAGS) $< -o $@

$(B)/demo/fix.bin: demo/fix.c demo/map $(B)/demo/hpm-demo-service $(B)/tools/hpm-patchgen
	$(B)/tools/hpm-patchgen --target $(B)/demo/hpm-demo-service --map demo/map --source demo/fix.c --out $@

DEMO_BINS := $(B)/demo/hpm-demo-service $(B)/demo/hpm-demo-client $(B)/demo/fix.bin
ALL_TARGETS += $(DEMO_BINS)

# The tour (scripts/demo.py, README "Try it"): release keys, signed baselines
# and hotpatch, four QEMU boots through hpmboot.efi.  Work files: $(B)/demo-run.
.PHONY: demo
demo: all
	@HPM_BUILD="$(B)" $(PYTHON) scripts/demo.py
