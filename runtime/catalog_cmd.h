/* SPDX-License-Identifier: MIT */
/* hpm catalog: fetch, verify and show the update catalog (source.h). */
#ifndef HPM_RUNTIME_CATALOG_CMD_H
#define HPM_RUNTIME_CATALOG_CMD_H

/* argv[0] is "catalog".  Returns the exit code (0 ok, 1 refused, 2 usage,
 * 3 I/O). */
int cmd_catalog(int argc, char **argv);

/* The source to use: the --source value if given, else $HPM_SOURCE, else
 * NULL (the lead wires the policy file's default in here). */
const char *catalog_default_source(const char *opt);

#endif
