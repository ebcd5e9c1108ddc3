/* SPDX-License-Identifier: MIT */
/* The per-process journal record: see journal.h. */
#include "hotpatch/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "hex.h"
#include "hpm/core.h"

char *hp_journal_format(const hp_journal *s, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (!f) return NULL;
  fprintf(f, "hpm-proc 1\npid %d\nstart %llu\nexe %s\nbuildid %s\nseq %u\nid %s\ntime %llu\nexposure_ms %llu\n",
          (int)s->pid, (unsigned long long)s->start, s->exe, s->build_id, s->seq, s->id[0] ? s->id : "-",
          (unsigned long long)s->time, (unsigned long long)s->exposure_ms);
  if (s->txn_addr) fprintf(f, "txn %llx %llx %d\n", (unsigned long long)s->txn_addr, (unsigned long long)s->txn_len, s->keep);
  for (int i = 0; i < s->nmaps; i++)
    fprintf(f, "map %llx %llx\n", (unsigned long long)s->maps[i].addr, (unsigned long long)s->maps[i].len);
  for (int i = 0; i < s->nsites; i++) {
    const hp_site *e = &s->sites[i];
    char h[2 * HPP_REGION_MAX + 1];
    hpm_fmt_hex(e->orig, e->len, h, sizeof h);
    fprintf(f, "site %s %llx %llx %llx %u %u %u %u %s %llx\n", e->name, (unsigned long long)e->region,
            (unsigned long long)e->entry, (unsigned long long)e->size, e->len, e->mode, e->flip_off, e->flags, h,
            (unsigned long long)e->next);
  }
  fprintf(f, "end\n");
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* Replaced atomically (hpmh_write_file): a reader sees the old or the new
 * file, never a mix.  Not fsync'ed: these records describe running
 * processes, which a power loss ends too; against hpm itself dying the page
 * cache is enough (host-level state, `applied`, is fsync'ed).  Returns 0, or
 * -1 with errno. */
int hp_journal_write(const char *path, const hp_journal *s) {
  size_t len = 0;
  char *buf = hp_journal_format(s, &len);
  if (!buf) return -1;
  int rc = hpmh_write_file(path, (const uint8_t *)buf, len, 0644, HPMH_WRITE_NO_SYNC, NULL);
  free(buf);
  return rc;
}

int hp_journal_read(const char *path, hp_journal *s) {
  memset(s, 0, sizeof *s);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int rc = hp_journal_parse(f, s);
  fclose(f);
  return rc;
}

int hp_journal_parse(FILE *f, hp_journal *s) {
  memset(s, 0, sizeof *s);
  char line[1024];
  int ended = 0, cap = 0;
  while (fgets(line, sizeof line, f)) {
    char k[32];
    int kn = 0;
    if (sscanf(line, "%31s%n", k, &kn) != 1) continue;
    const char *v = line + kn; /* the value: after the key, never past the line's end */
    unsigned long long a, b;
    int ki;
    if (!strcmp(k, "pid")) s->pid = atoi(v);
    else if (!strcmp(k, "start")) s->start = strtoull(v, NULL, 10);
    else if (!strcmp(k, "exe")) { /* the rest of the line: a file name may hold spaces */
      const char *x = v + (*v == ' ');
      snprintf(s->exe, sizeof s->exe, "%.*s", (int)strcspn(x, "\n"), x);
    }
    else if (!strcmp(k, "buildid")) sscanf(v, "%128s", s->build_id);
    else if (!strcmp(k, "seq")) s->seq = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "id")) { sscanf(v, "%63s", s->id); if (!strcmp(s->id, "-")) s->id[0] = 0; }
    else if (!strcmp(k, "time")) s->time = strtoull(v, NULL, 10);
    else if (!strcmp(k, "exposure_ms")) s->exposure_ms = strtoull(v, NULL, 10);
    else if (!strcmp(k, "txn") && sscanf(v, "%llx %llx %d", &a, &b, &ki) == 3) {
      s->txn_addr = a; s->txn_len = b; s->keep = ki;
    } else if (!strcmp(k, "map") && sscanf(v, "%llx %llx", &a, &b) == 2 && s->nmaps < HP_JOURNAL_MAX_MAPS) {
      s->maps[s->nmaps++] = (hp_map){a, b};
    } else if (!strcmp(k, "site")) {
      hp_site e;
      memset(&e, 0, sizeof e);
      char h[80];
      unsigned long long r, en, sz, nx;
      unsigned len, mode, flip, fl;
      if (sscanf(v, "%63s %llx %llx %llx %u %u %u %u %79s %llx", e.name, &r, &en, &sz, &len, &mode, &flip,
                 &fl, h, &nx) != 10 || len > HPP_REGION_MAX || hpmh_parse_hex(h, e.orig, len))
        break;
      e.region = r; e.entry = en; e.size = sz; e.len = (uint8_t)len; e.mode = (uint8_t)mode;
      e.flip_off = (uint8_t)flip; e.flags = (uint8_t)fl; e.next = nx; e.cur = nx;
      if (s->nsites == cap) {
        cap = cap ? cap * 2 : 16;
        hp_site *ns = realloc(s->sites, (size_t)cap * sizeof *ns);
        if (!ns) break;
        s->sites = ns;
      }
      s->sites[s->nsites++] = e;
    } else if (!strcmp(k, "end")) ended = 1;
  }
  if (!ended) { /* nothing of a refused record survives: maps, pid and the rest too */
    hp_journal_free(s);
    memset(s, 0, sizeof *s);
    return -1;
  }
  return 0;
}

void hp_journal_free(hp_journal *s) {
  free(s->sites);
  s->sites = NULL;
  s->nsites = 0;
}
