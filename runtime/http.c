/* SPDX-License-Identifier: MIT */
/* The one libcurl set-up of hpm (http.h). */
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hpm_http_global(void) {
  static bool done;
  if (!done) {
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
  CURL *c = curl_easy_init();
  errbuf[0] = '\0';
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
