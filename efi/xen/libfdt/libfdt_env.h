/* SPDX-License-Identifier: MIT */
/* Xen's libfdt.h includes <xen/libfdt/libfdt_env.h>: use efi/libfdt_env.h. */
#include <libfdt_env.h>
