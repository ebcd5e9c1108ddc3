/* SPDX-License-Identifier: MIT */
/*
 * Libraries only some commands use, loaded when one of them first needs
 * them (dlopen) rather than at every start of hpm: libcurl (catalog
 * sources, etcd) and libmicrohttpd (hpm fleet serve) bring TLS, Kerberos,
 * LDAP and more, whose loading and initialisation cost every command
 * milliseconds.  The callers' tables of function pointers are filled from
 * the library's exported names.
 */
#ifndef HPM_DYNLIB_H
#define HPM_DYNLIB_H

#include <stddef.h>

/* Opens soname (once; later calls reuse the handle) and stores the address
 * of names[i] in slots[i] for i < n.  0, or -1 with why saying which
 * library or symbol failed and what to install. */
int hpm_dynlib_load(const char *soname, const char *package, const char *const *names, void **slots, size_t n,
                    char *why, size_t wn);

#endif
