// SPDX-License-Identifier: GPL-2.0
/*
 * hpm livepatch template: the module around a replacement source's
 * HPM_KLP_FUNCS list.  The module name (KBUILD_MODNAME, set by build.sh
 * to <prefix>_<sequence>) is the patch's name in /sys/kernel/livepatch.
 */
#include "hpm-klp.h"

#ifndef HPM_KLP_SEQUENCE
#error "HPM_KLP_SEQUENCE is set by build.sh"
#endif

static struct klp_object hpm_klp_objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = hpm_klp_funcs },
	{}
};

static struct klp_patch hpm_klp_patch = {
	.mod = THIS_MODULE,
	.objs = hpm_klp_objs,
	.replace = true,
};

static int __init hpm_klp_init(void)
{
	return klp_enable_patch(&hpm_klp_patch);
}

static void __exit hpm_klp_exit(void)
{
}

module_init(hpm_klp_init);
module_exit(hpm_klp_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_INFO(hpm_sequence, __stringify(HPM_KLP_SEQUENCE));
MODULE_DESCRIPTION("hpm kernel hotpatch (cumulative livepatch)");
