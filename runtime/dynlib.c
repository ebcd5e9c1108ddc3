/* SPDX-License-Identifier: MIT */
/* Libraries loaded on first use (dynlib.h). */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

int hpm_dynlib_load(const char *soname, const char *package, const char *const *names, void **slots, size_t n,
                    char *why, size_t wn) {
  void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(why, wn, "cannot load %s (%s); install Debian's %s", soname, e ? e : "unknown error", package);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    dlerror();
    slots[i] = dlsym(h, names[i]);
    if (!slots[i]) {
      snprintf(why, wn, "%s has no %s: not the library hpm was built for; install Debian's %s", soname, names[i],
               package);
      return -1;
    }
  }
  return 0;
}
