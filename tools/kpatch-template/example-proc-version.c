// SPDX-License-Identifier: GPL-2.0
/*
 * Example replacement source: /proc/version (fs/proc/version.c,
 * version_proc_show) also names the kernel hotpatch the kernel runs.
 * The baseline prints linux_proc_banner, which modules cannot reach (not
 * exported); the replacement prints the same uts fields itself.  A
 * replacement may only use symbols vmlinux exports (Module.symvers):
 * references to unexported ones need klp relocations, which this
 * template does not generate.
 */
#include <linux/seq_file.h>
#include <linux/utsname.h>
#include "hpm-klp.h"

static int hpm_version_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s version %s %s hpm-kernel-hotpatch=%d\n",
		   utsname()->sysname, utsname()->release, utsname()->version,
		   HPM_KLP_SEQUENCE);
	return 0;
}

HPM_KLP_FUNCS(
	HPM_KLP_FUNC(version_proc_show, hpm_version_proc_show),
);
