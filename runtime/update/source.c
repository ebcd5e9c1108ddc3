/* SPDX-License-Identifier: MIT */
/* Update sources: catalog fetch (verify, expiry, rollback) and resumable,
 * size-capped, hash-checked downloads (source.h). */
#include "update/source.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "http.h"
#include "json.h"
#include "msg.h"

#define ATTEMPTS 3

static hpm_src_result fail(hpm_src_err *e, hpm_src_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hpm_src_result fail(hpm_src_err *e, hpm_src_result r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (e) vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return r;
}

/* ---- sources ------------------------------------------------------------ */

hpm_src_result hpm_source_parse(const char *spec, hpm_source *src, hpm_src_err *err) {
  size_t n;
  memset(src, 0, sizeof *src);
  if (!spec || !*spec)
    return fail(err, HPM_SRC_USAGE, "no update source: pass --source URL|DIR, or set source = in [update] of the policy file");
  n = strlen(spec);
  if (n >= sizeof src->base)
    return fail(err, HPM_SRC_USAGE, "source '%.64s...' is longer than %d characters", spec, HPM_SOURCE_MAX - 1);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)spec[i] <= 0x20 || spec[i] == 0x7f)
      return fail(err, HPM_SRC_USAGE, "source '%s' contains a space or control character", spec);
  if (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8)) {
    const char *host = spec + (spec[4] == 's' ? 8 : 7);
    if (!*host || *host == '/')
      return fail(err, HPM_SRC_USAGE, "source '%s' has no host name", spec);
    if (strpbrk(spec, "?#"))
      return fail(err, HPM_SRC_USAGE, "source '%s': a source URL takes no query or fragment (it is the directory that holds catalog.hpm)", spec);
    src->is_url = true;
  } else if (strstr(spec, "://")) {
    return fail(err, HPM_SRC_USAGE, "source '%s': only http://, https:// and local directories are supported", spec);
  } else {
    struct stat st;
    if (stat(spec, &st) != 0)
      return fail(err, HPM_SRC_IO, "source directory %s: %s (check --source / HPM_SOURCE)", spec, strerror(errno));
    if (!S_ISDIR(st.st_mode))
      return fail(err, HPM_SRC_USAGE, "source %s is not a directory (give the directory that holds catalog.hpm)", spec);
  }
  memcpy(src->base, spec, n + 1);
  while (n > 1 && src->base[n - 1] == '/') src->base[--n] = '\0';
  return HPM_SRC_OK;
}

void hpm_source_join(const hpm_source *src, const char *rel, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", src->base, rel);
}

/* ---- transfers ------------------------------------------------------------ */

typedef hpm_http_sink sink;

static long env_long(const char *name, long def) {
  const char *v = getenv(name);
  if (v && *v) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*end && x > 0) return x;
  }
  return def;
}

/* One HTTP GET of url into s, from byte s->have on (Range) when non-zero.
 * *status is the HTTP status (0 if none). */
static CURLcode http_get(const char *url, sink *s, long *status, char *errbuf) {
  CURLcode rc;
  char range[64];
  *status = 0;
  CURL *c = hpm_http_easy(url, s, errbuf);
  if (!c) return CURLE_OUT_OF_MEMORY;
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, env_long("HPM_HTTP_CONNECT_TIMEOUT", 30));
  /* A stalled transfer (less than 1 byte/s for this long) is an interruption. */
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, env_long("HPM_HTTP_STALL_TIMEOUT", 60));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(s->cap - s->have));
  if (s->have) {
    snprintf(range, sizeof range, "%llu-", (unsigned long long)s->have);
    curl_easy_setopt(c, CURLOPT_RANGE, range);
  }
  rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  return rc;
}

/* Read a local file of at most cap bytes into memory. */
static hpm_src_result read_local(const char *path, uint64_t cap, uint8_t **out, size_t *len,
                                 hpm_src_err *err) {
  struct stat st;
  uint8_t *b;
  size_t got = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, HPM_SRC_IO, "%s: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, HPM_SRC_IO, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > cap) {
    close(fd);
    return fail(err, HPM_SRC_REFUSED, "%s: %llu bytes, more than the %llu allowed: refusing", path,
                (unsigned long long)st.st_size, (unsigned long long)cap);
  }
  b = malloc((size_t)st.st_size + 1);
  if (!b) {
    close(fd);
    return fail(err, HPM_SRC_IO, "%s: out of memory", path);
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  *out = b;
  *len = got;
  return HPM_SRC_OK;
}

/* ---- catalog -------------------------------------------------------------- */

static hpm_src_result fetch_catalog_bytes(const hpm_source *src, uint8_t **buf, size_t *len,
                                          char *where, size_t cap, hpm_src_err *err) {
  hpm_source_join(src, HPM_CATALOG_FILE, where, cap);
  if (!src->is_url) return read_local(where, HPM_CATALOG_FILE_MAX, buf, len, err);
  {
    char eb[CURL_ERROR_SIZE];
    long status;
    CURLcode rc;
    sink s = {.fd = -1, .cap = HPM_CATALOG_FILE_MAX};
    hpm_http_global();
    rc = http_get(where, &s, &status, eb);
    if (s.over || rc == CURLE_FILESIZE_EXCEEDED) {
      free(s.mem);
      return fail(err, HPM_SRC_REFUSED, "%s: larger than a catalog can be (%llu bytes): refusing",
                  where, (unsigned long long)HPM_CATALOG_FILE_MAX);
    }
    if (rc == CURLE_OK && !s.mem && !(s.mem = calloc(1, 1))) rc = CURLE_OUT_OF_MEMORY;
    if (rc != CURLE_OK) {
      free(s.mem);
      return fail(err, HPM_SRC_IO, "%s: download failed: %s (check --source / HPM_SOURCE and the network)",
                  where, eb[0] ? eb : curl_easy_strerror(rc));
    }
    *buf = s.mem;
    *len = s.mem_len;
    return HPM_SRC_OK;
  }
}

static hpm_src_result stored_catalog(const char *state_dir, uint8_t **buf, size_t *len,
                                     hpm_catalog *stored, char *path, size_t cap,
                                     hpm_src_err *err) {
  hpm_diag d;
  hpm_result r;
  hpm_src_result sr;
  snprintf(path, cap, "%s/%s", state_dir, HPM_CATALOG_STATE_FILE);
  *buf = NULL;
  *len = 0;
  memset(stored, 0, sizeof *stored);
  if (access(path, F_OK) != 0) return errno == ENOENT ? HPM_SRC_OK : fail(err, HPM_SRC_IO, "%s: %s", path, strerror(errno));
  sr = read_local(path, HPM_CATALOG_FILE_MAX, buf, len, err);
  if (sr != HPM_SRC_OK) return sr == HPM_SRC_REFUSED ? HPM_SRC_IO : sr;
  /* Written by us after verification; here it only provides the floor.
   * A damaged floor is never silently dropped. */
  r = hpm_catalog_parse_unverified(*buf, *len, stored, &d);
  if (r != HPM_OK) {
    free(*buf);
    *buf = NULL;
    return fail(err, HPM_SRC_IO,
                "%s (the newest catalog this host accepted, whose serial is the rollback floor) is damaged: %s: %s; "
                "restore it from a backup, or remove it only if you accept any older catalog once",
                path, d.field, d.detail[0] ? d.detail : hpm_result_to_string(r));
  }
  return HPM_SRC_OK;
}

static hpm_src_result ensure_dir(const char *path, hpm_src_err *err) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    return fail(err, HPM_SRC_IO,
                "%s: cannot create: %s; create it, or set another directory ([paths] in the policy file, "
                "--state-dir, HPM_STATE_DIR, HPM_CACHE_DIR)",
                path, strerror(errno));
  return HPM_SRC_OK;
}

hpm_src_result hpm_source_fetch_catalog(hpm_ctx *ctx, const hpm_source *src, uint64_t now, hpm_catalog *out,
                                        hpm_catalog_change *change, uint64_t *previous_serial,
                                        hpm_src_err *err) {
  const char *state_dir = ctx->state_dir;
  hpm_trust t;
  hpmh_status st;
  size_t len = 0, old_len = 0;
  uint8_t *buf = NULL, *old = NULL;
  char where[HPM_SOURCE_MAX + 64], spath[4200];
  hpm_catalog stored = {0}; /* freed on every path after verification, even before it is read */
  hpm_diag d;
  hpm_result r;
  hpm_src_result sr;
  char a[32], b[32];

  memset(out, 0, sizeof *out);
  if (change) *change = HPM_CATALOG_NEW;
  if (previous_serial) *previous_serial = 0;
  if (hpm_ctx_trust_for(ctx, HPM_KIND_CATALOG, &t, &st))
    return fail(err, st.code == HPMH_E_IO ? HPM_SRC_IO : st.code == HPMH_E_INVALID ? HPM_SRC_USAGE : HPM_SRC_REFUSED,
                "%s", st.detail);
  sr = fetch_catalog_bytes(src, &buf, &len, where, sizeof where, err);
  if (sr != HPM_SRC_OK) return sr;
  r = hpm_catalog_verify(buf, len, &t, now, out, &d);
  if (r == HPM_E_EXPIRED) {
    hpmh_utc(out->expires, a);
    hpmh_utc(now, b);
    free(buf);
    return fail(err, HPM_SRC_REFUSED,
                "%s: catalog serial %llu expired at %s (now %s): refusing a stale catalog (freeze attack or "
                "an unmaintained source); the publisher must issue a new catalog, or check the host clock",
                where, (unsigned long long)out->serial, a, b);
  }
  if (r != HPM_OK) {
    char why[1200];
    hpm_ctx_refusal(ctx, HPM_KIND_CATALOG, NULL, out->trusted_signers, r, &d, NULL, why, sizeof why);
    free(buf);
    return fail(err, HPM_SRC_REFUSED, "%s: catalog refused: %s", where, why);
  }

  sr = ensure_dir(state_dir, err);
  if (sr != HPM_SRC_OK) goto done;
  sr = stored_catalog(state_dir, &old, &old_len, &stored, spath, sizeof spath, err);
  if (sr != HPM_SRC_OK) goto done;
  if (old) {
    if (previous_serial) *previous_serial = stored.serial;
    if (out->serial < stored.serial) {
      sr = fail(err, HPM_SRC_REFUSED,
                "%s: catalog serial %llu is older than serial %llu this host already accepted (%s): refusing "
                "a rollback; point --source at a current mirror",
                where, (unsigned long long)out->serial, (unsigned long long)stored.serial, spath);
      goto done;
    }
    if (out->serial == stored.serial) {
      if (old_len != len || memcmp(old, buf, len) != 0) {
        sr = fail(err, HPM_SRC_REFUSED,
                  "%s: catalog serial %llu differs from the catalog with the same serial this host already "
                  "accepted (%s): refusing; a publisher must raise the serial for every change",
                  where, (unsigned long long)out->serial, spath);
        goto done;
      }
      if (change) *change = HPM_CATALOG_SAME;
      goto done;
    }
    if (change) *change = HPM_CATALOG_NEWER;
  }
  if (!src->read_only) {
    hpmh_status we;
    if (hpmh_write_file(spath, buf, len, 0600, 0, &we))
      sr = fail(err, HPM_SRC_IO, "cannot record the accepted catalog: %s", we.detail);
  }
done:
  if (sr != HPM_SRC_OK) hpm_catalog_free(out);
  hpm_catalog_free(&stored);
  free(old);
  free(buf);
  return sr;
}

/* ---- entries -------------------------------------------------------------- */

static void fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* Copy a local file into fd from offset s->have on, through the same cap. */
static hpm_src_result copy_local(const char *from, sink *s, hpm_src_err *err) {
  char buf[1 << 16];
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return fail(err, HPM_SRC_IO, "%s: %s (check the catalog entry's url and the source)", from, strerror(errno));
  if (s->have && lseek(in, (off_t)s->have, SEEK_SET) < 0) {
    close(in);
    return fail(err, HPM_SRC_IO, "%s: %s", from, strerror(errno));
  }
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(in);
      return fail(err, HPM_SRC_IO, "%s: %s", from, strerror(errno));
    }
    if (n == 0) break;
    if (hpm_http_sink_write(s, buf, (size_t)n) != (size_t)n) break;
  }
  close(in);
  return HPM_SRC_OK;
}

hpm_src_result hpm_source_fetch_entry(const hpm_source *src, const hpm_catalog_entry *e,
                                      const char *cache_dir, char *path, size_t cap,
                                      hpm_src_err *err) {
  char hex[65], cache[4200], part[4300], url[HPM_SOURCE_MAX + HPM_CATALOG_URL_MAX + 8];
  uint8_t got[32];
  uint64_t size = 0;
  const char *why = hpm_catalog_url_problem(e->url);
  hpm_src_result sr;

  if (why) return fail(err, HPM_SRC_REFUSED, "catalog entry %s: url '%s' %s: refusing", e->id, e->url, why);
  hpm_fmt_hex(e->file_sha256, 32, hex, sizeof hex);
  snprintf(cache, sizeof cache, "%s", cache_dir);
  if ((sr = ensure_dir(cache, err)) != HPM_SRC_OK) return sr;
  if ((size_t)snprintf(path, cap, "%s/%s.hpm", cache, hex) >= cap)
    return fail(err, HPM_SRC_IO, "%s: path too long", cache);
  snprintf(part, sizeof part, "%s.part", path);
  hpm_source_join(src, e->url, url, sizeof url);

  /* Already cached: trust nothing, hash it again. */
  if (access(path, F_OK) == 0) {
    if (hpmh_sha256_file(path, got, &size) == 0 && size == e->size && memcmp(got, e->file_sha256, 32) == 0)
      return HPM_SRC_OK;
    unlink(path);
  }

  for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
    struct stat st;
    sink s = {.fd = -1, .cap = e->size};
    char eb[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc = CURLE_OK;

    s.fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (s.fd < 0) return fail(err, HPM_SRC_IO, "%s: %s", part, strerror(errno));
    if (fstat(s.fd, &st) != 0) {
      close(s.fd);
      return fail(err, HPM_SRC_IO, "%s: %s", part, strerror(errno));
    }
    s.have = (uint64_t)st.st_size;
    if (s.have > e->size) { /* cannot be ours: start again */
      if (ftruncate(s.fd, 0) != 0) {
        close(s.fd);
        return fail(err, HPM_SRC_IO, "%s: %s", part, strerror(errno));
      }
      s.have = 0;
    }
    if (s.have < e->size) {
      if (src->is_url) {
        hpm_http_global();
        rc = http_get(url, &s, &status, eb);
        /* 200 instead of 206: the server ignored the Range and sent the
         * file from byte 0, appended after what we had: discard it all and
         * start again without a Range. */
        if (s.have && status == 200 && !s.write_error) {
          close(s.fd);
          unlink(part);
          if (attempt < ATTEMPTS) continue;
          return fail(err, HPM_SRC_IO, "%s: the server does not honour HTTP Range requests; retry", url);
        }
      } else {
        sr = copy_local(url, &s, err);
        if (sr != HPM_SRC_OK) {
          close(s.fd);
          return sr;
        }
      }
    }
    if (s.write_error) {
      close(s.fd);
      return fail(err, HPM_SRC_IO, "%s: write failed: %s", part, strerror(errno));
    }
    if (s.over || rc == CURLE_FILESIZE_EXCEEDED) {
      close(s.fd);
      unlink(part);
      return fail(err, HPM_SRC_REFUSED,
                  "%s: more bytes than the %llu the catalog lists for %s (field 'size'): download aborted, nothing kept",
                  url, (unsigned long long)e->size, e->id);
    }
    if (fsync(s.fd) != 0) {
      close(s.fd);
      return fail(err, HPM_SRC_IO, "%s: %s", part, strerror(errno));
    }
    close(s.fd);
    if (rc != CURLE_OK) {
      if (status >= 400 || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
          attempt == ATTEMPTS)
        return fail(err, HPM_SRC_IO, "%s: download of %s failed: %s (%llu of %llu bytes kept in %s; run again to resume)",
                    url, e->id, eb[0] ? eb : curl_easy_strerror(rc),
                    (unsigned long long)(s.have + s.got), (unsigned long long)e->size, part);
      continue; /* interrupted: resume from what we have */
    }
    if (hpmh_sha256_file(part, got, &size) != 0)
      return fail(err, HPM_SRC_IO, "%s: cannot read back: %s", part, strerror(errno));
    if (size < e->size) {
      if (attempt < ATTEMPTS && (src->is_url)) continue;
      return fail(err, HPM_SRC_IO, "%s: only %llu of %llu bytes of %s (field 'size') arrived (kept in %s; run again to resume)",
                  url, (unsigned long long)size, (unsigned long long)e->size, e->id, part);
    }
    if (memcmp(got, e->file_sha256, 32) != 0) {
      char gh[65];
      hpm_fmt_hex(got, 32, gh, sizeof gh);
      unlink(part);
      return fail(err, HPM_SRC_REFUSED,
                  "%s: SHA-256 %s differs from the catalog's %s for %s (field 'sha256'): file deleted; the mirror "
                  "serves different bytes than the signed catalog lists",
                  url, gh, hex, e->id);
    }
    if (rename(part, path) != 0) return fail(err, HPM_SRC_IO, "%s: %s", path, strerror(errno));
    fsync_dir(cache);
    return HPM_SRC_OK;
  }
  return fail(err, HPM_SRC_IO, "%s: download of %s did not complete after %d attempts (run again to resume)", url, e->id, ATTEMPTS);
}
