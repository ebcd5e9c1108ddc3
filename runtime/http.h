/* SPDX-License-Identifier: MIT */
/*
 * The one libcurl set-up of hpm: the global init (once per process), a
 * handle with the options every transfer shares (http/https only, no
 * redirects, no signals, an error buffer, hpm's user agent) and the write
 * callback into a bounded sink (memory grown as needed, or a file).  Used by
 * the catalog sources (update/source.c) and the etcd client (fleet/etcd.c).
 */
#ifndef HPM_HTTP_H
#define HPM_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a transfer's bytes go.  fd >= 0: written to fd; else appended to
 * mem (grown with realloc, always NUL-terminated after mem_len; the caller
 * frees it).  Never more than cap bytes in all: have (bytes present before
 * this transfer, for a resumed download) + got (this transfer).  A transfer
 * that would pass cap sets over; a failed write (or allocation) sets
 * write_error; either aborts it with CURLE_WRITE_ERROR. */
typedef struct {
  uint8_t *mem;
  size_t mem_len;
  int fd;
  uint64_t have;
  uint64_t got;
  uint64_t cap;
  bool over;
  bool write_error;
} hpm_http_sink;

/* Append data[0..n) to s (what the write callback does): n, or 0 with
 * over or write_error set. */
size_t hpm_http_sink_write(hpm_http_sink *s, const void *data, size_t n);

/* curl_global_init(), the first time only. */
void hpm_http_global(void);

/* A new easy handle for url with the shared options, writing into s, its
 * error text into errbuf (CURL_ERROR_SIZE bytes, emptied); NULL when out of
 * memory.  The caller adds its own options and curl_easy_cleanup()s it. */
CURL *hpm_http_easy(const char *url, hpm_http_sink *s, char *errbuf);

#endif
