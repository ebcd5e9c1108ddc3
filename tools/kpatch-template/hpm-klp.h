/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hpm livepatch template: what a replacement source includes.
 *
 * A replacement source defines the new functions and lists them once:
 *
 *   #include "hpm-klp.h"
 *   static int fixed_cmdline_proc_show(struct seq_file *m, void *v) { ... }
 *   HPM_KLP_FUNCS(
 *       HPM_KLP_FUNC(cmdline_proc_show, fixed_cmdline_proc_show),
 *   );
 *
 * The functions named are in vmlinux (functions of modules are not covered
 * by this template yet).  hpm-klp-main.c turns the list into a cumulative
 * klp_patch with atomic replace (.replace = true): loading sequence N
 * replaces whatever livepatch with .replace the kernel runs, in one
 * transition, and its functions are the whole patched set.
 */
#ifndef HPM_KLP_H
#define HPM_KLP_H

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/livepatch.h>

#define HPM_KLP_FUNC(old, new) { .old_name = #old, .new_func = new }
#define HPM_KLP_FUNCS(...) \
	struct klp_func hpm_klp_funcs[] = { __VA_ARGS__ {} }

extern struct klp_func hpm_klp_funcs[];

#endif
