/* SPDX-License-Identifier: MIT */
/* The one libcurl set-up of hpm (http.h). */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dynlib.h"

hpm_curl_api hpm_curl;

int hpm_http_load(char *why, size_t n) {
  static int state; /* 0 not tried, 1 loaded, -1 failed (why kept) */
  static char failed[CURL_ERROR_SIZE];
  static const char *const names[] = {"curl_global_init", "curl_easy_init", "curl_easy_setopt",
                                      "curl_easy_perform", "curl_easy_getinfo", "curl_easy_cleanup",
                                      "curl_easy_strerror", "curl_slist_append", "curl_slist_free_all"};
  _Static_assert(sizeof names / sizeof names[0] == sizeof(hpm_curl_api) / sizeof(void (*)(void)),
                 "one name per pointer of hpm_curl_api");
  if (!state) {
    void *slots[sizeof names / sizeof names[0]];
    state = hpm_dynlib_load("libcurl.so.4", "libcurl4", names, slots, sizeof names / sizeof names[0], failed,
                            sizeof failed) ? -1 : 1;
    if (state > 0) memcpy(&hpm_curl, slots, sizeof hpm_curl);
  }
  if (state < 0) snprintf(why, n, "%s", failed);
  return state > 0 ? 0 : -1;
}

void hpm_http_global(void) {
  static bool done;
  char why[CURL_ERROR_SIZE];
  if (!done && hpm_http_load(why, sizeof why) == 0) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    done = true;
  }
}

size_t hpm_http_sink_write(hpm_http_sink *s, const void *data, size_t n) {
  const char *p = data;
  if (s->have + s->got > s->cap || n > s->cap - s->have - s->got) {
    s->over = true;
    return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
  }
  if (s->fd >= 0) {
    size_t done = 0;
    while (done < n) {
      ssize_t w = write(s->fd, p + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        s->write_error = true;
        return 0;
      }
      done += (size_t)w;
    }
  } else {
    uint8_t *b = realloc(s->mem, s->mem_len + n + 1);
    if (!b) {
      s->write_error = true;
      return 0;
    }
    memcpy(b + s->mem_len, p, n);
    s->mem = b;
    s->mem_len += n;
    b[s->mem_len] = '\0';
  }
  s->got += n;
  return n;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx) {
  return hpm_http_sink_write(ctx, p, size * nmemb);
}

CURL *hpm_http_easy(const char *url, hpm_http_sink *s, char *errbuf) {
  errbuf[0] = '\0';
  if (hpm_http_load(errbuf, CURL_ERROR_SIZE)) return NULL;
  hpm_http_global();
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "hpm");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
  return c;
}
