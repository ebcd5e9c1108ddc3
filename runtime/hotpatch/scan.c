/* SPDX-License-Identifier: MIT */
/* The /proc scanner: processes, the binaries they map, their ELF facts (internal.h). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hotpatch/internal.h"

int hp_pids(pid_t **out) {
  *out = NULL;
  DIR *d = opendir("/proc");
  if (!d) return -1;
  pid_t self = getpid(), *v = NULL;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid <= 0 || pid == self) continue;
    if (n == cap) {
      pid_t *g = realloc(v, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *v);
      if (!g) break;
      v = g;
    }
    v[n++] = pid;
  }
  closedir(d);
  *out = v;
  return n;
}

bool hp_pid_selected(const pid_t *pids, int npids, pid_t pid) {
  if (!npids) return true;
  for (int i = 0; i < npids; i++)
    if (pids[i] == pid) return true;
  return false;
}

uint64_t hp_proc_starttime(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  /* fields after the command: state is field 3, starttime field 22 */
  int field = 2;
  for (; *p && field < 22; p++)
    if (*p == ' ') field++;
  return strtoull(p, NULL, 10);
}

bool hp_proc_dying(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return true;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p || !p[1] || !p[2]) return true;
  if (p[2] == 'Z' || p[2] == 'X') return true; /* state, field 3 */
  int field = 2; /* flags, field 9: PF_EXITING (0x4) once the group leader began to exit */
  for (p++; *p && field < 9; p++)
    if (*p == ' ') field++;
  if (strtoul(p, NULL, 10) & 0x4u) return true;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return true;
  bool dumping = false;
  while (fgets(buf, sizeof buf, f))
    if (!strncmp(buf, "CoreDumping:", 12)) { dumping = atoi(buf + 12) != 0; break; }
  fclose(f);
  return dumping;
}

uint64_t hp_proc_age_ms(uint64_t start) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  uint64_t up_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  long tck = sysconf(_SC_CLK_TCK);
  return up_ms - start * 1000 / (uint64_t)(tck > 0 ? tck : 100);
}

/* ELF facts of a mapped file, through the cache. */
static int elf_info_cached(hp_elf_cache *c, pid_t pid, unsigned long lo, unsigned long hi, unsigned long dev,
                           unsigned long ino, hpp_elf_info *info) {
  for (int i = 0; i < c->n; i++)
    if (c->e[i].dev == dev && c->e[i].ino == ino) { *info = c->e[i].info; return c->e[i].ok ? 0 : -1; }
  char mf[128];
  snprintf(mf, sizeof mf, "/proc/%d/map_files/%lx-%lx", (int)pid, lo, hi);
  int fd = open(mf, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  uint8_t page[4096], *big = NULL;
  ssize_t r = pread(fd, page, sizeof page, 0); /* headers and notes are nearly always in the first page */
  int bad = r <= 0 || hpp_elf_info_parse(page, (size_t)r, info);
  if (bad && r == (ssize_t)sizeof page && (big = malloc(65536))) {
    r = pread(fd, big, 65536, 0);
    bad = r <= 0 || hpp_elf_info_parse(big, (size_t)r, info);
    free(big);
  }
  close(fd);
  if (r <= 0) return -1; /* unreadable now: do not remember */
  if (c->n < HP_ELF_CACHE) {
    c->e[c->n].dev = dev;
    c->e[c->n].ino = ino;
    c->e[c->n].ok = !bad;
    if (!bad) c->e[c->n].info = *info;
    c->n++;
  }
  return bad ? -1 : 0;
}

/* The name at the end of a /proc/PID/maps line (after the inode): the
 * rest of the line, spaces included, without the newline. */
static void maps_name(const char *p, char *out, size_t n) {
  while (*p == ' ' || *p == '\t') p++;
  size_t k = strcspn(p, "\n");
  if (k >= n) k = n - 1;
  memcpy(out, p, k);
  out[k] = 0;
}

int hp_proc_match(hp_elf_cache *c, pid_t pid, const hp_hotpatch *h, hp_match *out, int cap) {
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int n = 0;
  /* every mapped file once, however many the process maps */
  struct seen_file { unsigned long dev, ino; } *seen = NULL;
  int nseen = 0, capseen = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, ino;
    unsigned maj, mnr;
    char perms[8], file[512] = "";
    int at = 0;
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu%n", &lo, &hi, perms, &off, &maj, &mnr, &ino, &at) < 7) continue;
    maps_name(line + at, file, sizeof file);
    if (file[0] != '/' || off != 0 || !ino) continue;
    int dup = 0;
    for (int i = 0; i < nseen; i++) dup |= seen[i].ino == ino && seen[i].dev == ((unsigned long)maj << 20 | mnr);
    if (dup) continue;
    if (nseen == capseen) {
      struct seen_file *g = realloc(seen, (size_t)(capseen = capseen ? 2 * capseen : 64) * sizeof *seen);
      if (!g) break;
      seen = g;
    }
    seen[nseen].dev = (unsigned long)maj << 20 | mnr;
    seen[nseen++].ino = ino;
    hpp_elf_info info;
    if (elf_info_cached(c, pid, lo, hi, seen[nseen - 1].dev, ino, &info)) continue;
    for (size_t k = 0; k < h->np && n < cap; k++) {
      const hpp_payload *pl = &h->p[k];
      if (pl->build_id_len != info.build_id_len || memcmp(pl->build_id, info.build_id, info.build_id_len)) continue;
      hp_match *m = &out[n++];
      m->pid = pid;
      m->pl = pl;
      m->bias = info.is_dyn ? lo - (info.first_load_vaddr & ~0xfffull) : 0;
      m->lo = lo;
      m->hi = hi;
      snprintf(m->exe, sizeof m->exe, "%s", file);
    }
  }
  /* the binary's whole span, for placing code within jump range */
  rewind(f);
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char file[512] = "";
    int at = 0;
    if (sscanf(line, "%lx-%lx %*s %*x %*s %*u%n", &lo, &hi, &at) < 2 || !at) continue;
    maps_name(line + at, file, sizeof file);
    for (int i = 0; i < n; i++)
      if (!strcmp(file, out[i].exe) && hi > out[i].hi) out[i].hi = hi;
  }
  fclose(f);
  free(seen);
  return n;
}

void hp_site_from_func(hp_site *s, const hpp_func *f, uint64_t bias) {
  memset(s, 0, sizeof *s);
  memcpy(s->name, f->name, sizeof s->name);
  s->region = bias + f->region;
  s->entry = bias + f->entry;
  s->size = f->size;
  s->len = f->region_len;
  s->mode = f->mode;
  s->flip_off = f->flip_off;
  s->flags = f->flags;
  memcpy(s->orig, f->orig, HPP_REGION_MAX);
}
