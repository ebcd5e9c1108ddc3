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

/* libcurl is called through the pointers of hpm_curl (below), so curl.h's
 * type-checking macros, which name the functions, must stay out. */
#define CURL_DISABLE_TYPECHECK 1
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

/* libcurl's functions hpm calls, loaded with the library on first use
 * (dynlib.h: most commands never speak HTTP).  The curl_* names below call
 * through these pointers; they are valid once hpm_http_load() returned 0,
 * which hpm_http_global() and hpm_http_easy() ensure. */
typedef struct {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *c, CURLoption o, ...);
  CURLcode (*easy_perform)(CURL *c);
  CURLcode (*easy_getinfo)(CURL *c, CURLINFO i, ...);
  void (*easy_cleanup)(CURL *c);
  const char *(*easy_strerror)(CURLcode rc);
  struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
  void (*slist_free_all)(struct curl_slist *l);
} hpm_curl_api;
extern hpm_curl_api hpm_curl;
#undef curl_easy_setopt  /* curl.h's checks that a call passes three arguments */
#undef curl_easy_getinfo
#define curl_global_init (*hpm_curl.global_init)
#define curl_easy_init (*hpm_curl.easy_init)
#define curl_easy_setopt (*hpm_curl.easy_setopt)
#define curl_easy_perform (*hpm_curl.easy_perform)
#define curl_easy_getinfo (*hpm_curl.easy_getinfo)
#define curl_easy_cleanup (*hpm_curl.easy_cleanup)
#define curl_easy_strerror (*hpm_curl.easy_strerror)
#define curl_slist_append (*hpm_curl.slist_append)
#define curl_slist_free_all (*hpm_curl.slist_free_all)

/* Loads libcurl (once): 0, or -1 with why (CURL_ERROR_SIZE is enough). */
int hpm_http_load(char *why, size_t n);

/* Loads libcurl and runs curl_global_init(), the first time only; a
 * library that cannot be loaded is reported by hpm_http_easy(). */
void hpm_http_global(void);

/* A new easy handle for url with the shared options, writing into s, its
 * error text into errbuf (CURL_ERROR_SIZE bytes, emptied); NULL when out of
 * memory (errbuf empty) or when libcurl cannot be loaded (errbuf says
 * why).  The caller adds its own options and curl_easy_cleanup()s it. */
CURL *hpm_http_easy(const char *url, hpm_http_sink *s, char *errbuf);

#endif
