// SPDX-License-Identifier: GPL-2.0
/*
 * Test replacement source (firmware-tests/test_kernel_hotpatch.py): the
 * pause(2) system call, with the same body.  A task sleeping in pause()
 * has the old function on its stack, so it holds the livepatch transition
 * (the kernel only switches a task whose stack holds no function being
 * replaced): the test's way to make a transition miss its deadline.
 */
#include <linux/errno.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include "hpm-klp.h"

static long hpm_sys_pause(const struct pt_regs *regs)
{
	while (!signal_pending(current)) {
		__set_current_state(TASK_INTERRUPTIBLE);
		schedule();
	}
	return -ERESTARTNOHAND;
}

HPM_KLP_FUNCS(
	HPM_KLP_FUNC(__x64_sys_pause, hpm_sys_pause),
);
