/* SPDX-License-Identifier: MIT */
/* hpm status: the boot side (boot/) and the hotpatch side (hotpatch/) in one report. */
#ifndef HPM_RUNTIME_STATUS_CMD_H
#define HPM_RUNTIME_STATUS_CMD_H

#include "ctx.h"

int hpm_cmd_status(hpm_ctx *ctx, int argc, char **argv);

#endif
