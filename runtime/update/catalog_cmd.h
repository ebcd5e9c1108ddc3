/* SPDX-License-Identifier: MIT */
/* hpm catalog: fetch, verify and show the update catalog (source.h). */
#ifndef HPM_RUNTIME_CATALOG_CMD_H
#define HPM_RUNTIME_CATALOG_CMD_H

#include "ctx.h"

/* argv[0] is "catalog".  Returns the exit code (0 ok, 1 refused, 2 usage,
 * 3 I/O). */
int cmd_catalog(hpm_ctx *ctx, int argc, char **argv);

#endif
