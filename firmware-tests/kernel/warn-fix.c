// SPDX-License-Identifier: GPL-2.0
/*
 * Test replacement source (firmware-tests/test_kernel_hotpatch.py, the
 * kernel health signal): /proc/version as the example prints it, but the
 * replacement hits a WARN_ON_ONCE the first time it runs -- a kernel
 * hotpatch with a bug the kernel reports itself ("WARNING: CPU: ...", taint
 * W), which the verifying window must count against it.
 */
#include <linux/bug.h>
#include <linux/seq_file.h>
#include <linux/utsname.h>
#include "hpm-klp.h"

static int hpm_warn_version_proc_show(struct seq_file *m, void *v)
{
	WARN_ON_ONCE(1);
	seq_printf(m, "%s version %s %s hpm-kernel-hotpatch=%d\n",
		   utsname()->sysname, utsname()->release, utsname()->version,
		   HPM_KLP_SEQUENCE);
	return 0;
}

HPM_KLP_FUNCS(
	HPM_KLP_FUNC(version_proc_show, hpm_warn_version_proc_show),
);
