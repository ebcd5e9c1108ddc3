/* SPDX-License-Identifier: MIT */
/* Xen's libfdt.h includes <xen/libfdt/fdt.h>: the flattened copy in
 * DEPS/src/libfdt (the same file, unpacked by scripts/deps.sh). */
#include <fdt.h>
