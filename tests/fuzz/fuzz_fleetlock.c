/* SPDX-License-Identifier: MIT */
/*
 * The body of a FleetLock request (runtime/fleet/lockreq.c): bytes from
 * the network.  Whatever parses names a valid host and group, which go
 * into etcd keys, so they are checked again here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char id[FL_NAME_MAX + 1], group[FL_NAME_MAX + 1], err[200];
  if (fl_lockreq_parse((const char *)data, size, id, group, err, sizeof err)) {
    if (!err[0]) abort();
    return 0;
  }
  if (!fl_name_ok(id) || !fl_name_ok(group) || strchr(group, '_') || size > FL_LOCKREQ_MAX) abort();
  return 0;
}
