/* SPDX-License-Identifier: MIT */
/*
 * A payload's imports (docs/hotpatch-payload.md, version 3) resolved in one
 * process, the way its dynamic linker would, without running any code in
 * it: the objects in the process's link map order (the r_debug list the
 * dynamic linker keeps, read from the process's memory), each object's ELF
 * file read through /proc/PID/map_files (the file the process really maps,
 * whatever its path says now), its symbols and versions by dso.c.  An IFUNC
 * is taken from a GOT slot the dynamic linker already filled: the defining
 * object's own R_X86_64_IRELATIVE slot for that resolver, else any loaded
 * object's GOT slot for the name, if it points into the defining object's
 * code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hotpatch/dso.h"
#include "hotpatch/internal.h"

#define MAX_OBJS 512
#define MAX_MAPS 8192
#define AT_PHDR_ 3
#define AT_PHNUM_ 5
#define DT_DEBUG_ 21

typedef struct { uint64_t lo, hi, off; int x; unsigned long dev, ino; char name[256]; } map_t;
typedef struct {
  uint64_t bias;
  int map;            /* index of a mapping of its file */
  char name[256];
  uint8_t *buf;       /* the file, mapped */
  size_t len;
  hp_dso d;
  int ok;
} obj_t;
typedef struct {
  pid_t pid;
  int memfd;
  map_t *maps;
  int nmaps;
  obj_t objs[MAX_OBJS];
  int nobjs;
} proc_t;

static int rmem(proc_t *p, uint64_t addr, void *out, size_t n) {
  return pread(p->memfd, out, n, (off_t)addr) == (ssize_t)n ? 0 : -1;
}

static int read_maps(proc_t *p) {
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)p->pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  while (fgets(line, sizeof line, f) && p->nmaps < MAX_MAPS) {
    unsigned long lo, hi, off, ino;
    unsigned maj, mnr;
    char perms[8];
    int at = 0;
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu%n", &lo, &hi, perms, &off, &maj, &mnr, &ino, &at) < 7) continue;
    if (!(p->nmaps & 63)) {
      map_t *m = realloc(p->maps, (size_t)(p->nmaps + 64) * sizeof *m);
      if (!m) break;
      p->maps = m;
    }
    map_t *m = &p->maps[p->nmaps++];
    memset(m, 0, sizeof *m);
    *m = (map_t){lo, hi, off, perms[2] == 'x', (unsigned long)maj << 20 | mnr, ino, ""};
    const char *n = line + at;
    while (*n == ' ') n++;
    snprintf(m->name, sizeof m->name, "%.*s", (int)strcspn(n, "\n"), n);
  }
  fclose(f);
  return 0;
}

static int map_at(proc_t *p, uint64_t a) {
  for (int i = 0; i < p->nmaps; i++)
    if (a >= p->maps[i].lo && a < p->maps[i].hi) return i;
  return -1;
}

/* Is a inside executable code of the file mapping m belongs to? */
static int in_code_of(proc_t *p, int m, uint64_t a) {
  int i = map_at(p, a);
  return i >= 0 && p->maps[i].x && p->maps[i].ino == p->maps[m].ino && p->maps[i].dev == p->maps[m].dev;
}

/* The r_debug link map: the objects in the dynamic linker's search order. */
static int link_map(proc_t *p, char *why, size_t wl) {
  char path[64];
  uint64_t av[2 * 64], phdr = 0, phnum = 0;
  snprintf(path, sizeof path, "/proc/%d/auxv", (int)p->pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, av, sizeof av);
  if (fd >= 0) close(fd);
  for (ssize_t i = 0; i + 1 < n / 8; i += 2) {
    if (av[i] == AT_PHDR_) phdr = av[i + 1];
    if (av[i] == AT_PHNUM_) phnum = av[i + 1];
  }
  if (!phdr || !phnum || phnum > 256) return snprintf(why, wl, "no program headers in its auxiliary vector"), -1;
  uint8_t ph[256 * 56];
  if (rmem(p, phdr, ph, phnum * 56)) return snprintf(why, wl, "cannot read its program headers: %s", strerror(errno)), -1;
  uint64_t bias = 0, dyn = 0;
  int have_phdr = 0;
  for (uint64_t i = 0; i < phnum; i++) {
    uint32_t type;
    uint64_t va;
    memcpy(&type, ph + i * 56, 4);
    memcpy(&va, ph + i * 56 + 16, 8);
    if (type == 6 /* PT_PHDR */) { bias = phdr - va; have_phdr = 1; }
    if (type == 2 /* PT_DYNAMIC */) dyn = va;
  }
  if (!dyn) return snprintf(why, wl, "a static binary (no dynamic linker, no shared libraries)"), -1;
  if (!have_phdr) return snprintf(why, wl, "no PT_PHDR: cannot place its dynamic section"), -1;
  uint64_t rdebug = 0;
  for (int k = 0; k < 1024; k++) {
    uint64_t e[2];
    if (rmem(p, bias + dyn + (uint64_t)k * 16, e, sizeof e) || !e[0]) break;
    if (e[0] == DT_DEBUG_) rdebug = e[1];
  }
  uint64_t lm = 0;
  if (!rdebug || rmem(p, rdebug + 8, &lm, 8) || !lm)
    return snprintf(why, wl, "its dynamic linker has not published a link map (DT_DEBUG)"), -1;
  for (int k = 0; lm && k < MAX_OBJS; k++) {
    uint64_t l[5]; /* l_addr l_name l_ld l_next l_prev */
    if (rmem(p, lm, l, sizeof l)) return snprintf(why, wl, "cannot read its link map at 0x%llx", (unsigned long long)lm), -1;
    int m = map_at(p, l[2]);
    if (m >= 0 && p->maps[m].ino && p->maps[m].name[0] == '/' && p->nobjs < MAX_OBJS) {
      obj_t *o = &p->objs[p->nobjs++];
      memset(o, 0, sizeof *o);
      o->bias = l[0];
      o->map = m;
      snprintf(o->name, sizeof o->name, "%s", p->maps[m].name);
    } /* else the vDSO (no file): it exports only __vdso_* entry points */
    lm = l[3];
  }
  return 0;
}

/* Map object o's file (through the process's own mapping of it) and parse it. */
static int load_obj(proc_t *p, obj_t *o) {
  if (o->ok) return o->ok > 0 ? 0 : -1;
  o->ok = -1;
  for (int i = 0; i < p->nobjs; i++) /* one file mapped twice (rare): parse once */
    if (&p->objs[i] != o && p->objs[i].ok > 0 && p->maps[p->objs[i].map].ino == p->maps[o->map].ino &&
        p->maps[p->objs[i].map].dev == p->maps[o->map].dev) {
      o->d = p->objs[i].d;
      o->ok = 2;
      return 0;
    }
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/map_files/%llx-%llx", (int)p->pid, (unsigned long long)p->maps[o->map].lo,
           (unsigned long long)p->maps[o->map].hi);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) || st.st_size <= 0 || st.st_size > (1ll << 31)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  void *b = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (b == MAP_FAILED) return -1;
  o->buf = b;
  o->len = (size_t)st.st_size;
  char why[160];
  if (hp_dso_parse(o->buf, o->len, &o->d, why, sizeof why)) return -1;
  o->ok = 1;
  return 0;
}

/* The address of an IFUNC defined by object o at resolver value: from a
 * GOT slot the dynamic linker filled. */
static int ifunc_addr(proc_t *p, obj_t *o, const char *name, uint64_t resolver, uint64_t *addr) {
  uint64_t slot, v;
  if (!hp_dso_irelative_slot(&o->d, resolver, &slot) && !rmem(p, o->bias + slot, &v, 8) && in_code_of(p, o->map, v)) {
    *addr = v;
    return 0;
  }
  for (int i = 0; i < p->nobjs; i++) {
    obj_t *u = &p->objs[i];
    if (load_obj(p, u) || hp_dso_import_slot(&u->d, name, &slot) || rmem(p, u->bias + slot, &v, 8)) continue;
    if (in_code_of(p, o->map, v)) { *addr = v; return 0; }
  }
  return -1;
}

int hp_imports_resolve(pid_t pid, const hpp_payload *pl, uint64_t *addrs, FILE *say, char *why, size_t wl) {
  if (!pl->import_count) return 0;
  proc_t *p = calloc(1, sizeof *p);
  if (!p) return snprintf(why, wl, "out of memory"), -1;
  p->pid = pid;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  p->memfd = open(path, O_RDONLY | O_CLOEXEC);
  int rc = -1;
  char lw[200] = "";
  if (p->memfd < 0) { snprintf(why, wl, "cannot read its memory: %s", strerror(errno)); goto out; }
  if (read_maps(p)) { snprintf(why, wl, "cannot read /proc/%d/maps", (int)pid); goto out; }
  if (link_map(p, lw, sizeof lw)) {
    snprintf(why, wl, "cannot resolve its %u import(s): %s", pl->import_count, lw);
    goto out;
  }
  for (uint32_t i = 0; i < pl->import_count; i++) {
    hpp_import im;
    hpp_import_get(pl, i, &im);
    char full[HPP_IMPORT_NAME_MAX + HPP_IMPORT_VER_MAX + 2];
    snprintf(full, sizeof full, "%s%s%s", im.name, im.version[0] ? "@" : "", im.version);
    int found = 0;
    for (int k = 0; k < p->nobjs && !found; k++) {
      obj_t *o = &p->objs[k];
      hp_dso_sym s;
      if (load_obj(p, o) || hp_dso_lookup(&o->d, im.name, im.version, &s)) continue;
      found = 1;
      if (s.kind == HP_DSO_TLS) {
        snprintf(why, wl, "import '%s' is a thread-local variable of %s: patch code cannot import one", full, o->name);
        goto out;
      }
      if (s.kind == HP_DSO_IFUNC) {
        if (ifunc_addr(p, o, im.name, s.value, &addrs[i])) {
          snprintf(why, wl,
                   "import '%s' is an IFUNC of %s whose choice the process has not made in any GOT slot hpm can "
                   "read (hpm never runs code in the process): call another function, or a variant the program uses",
                   full, o->name);
          goto out;
        }
      } else {
        addrs[i] = o->bias + s.value;
        if (s.kind == HP_DSO_FUNC && !in_code_of(p, o->map, addrs[i])) {
          snprintf(why, wl, "import '%s' of %s is not in that object's code at 0x%llx", full, o->name,
                   (unsigned long long)addrs[i]);
          goto out;
        }
      }
      if (say) fprintf(say, "  pid %d: import %s = 0x%llx in %s\n", (int)pid, full, (unsigned long long)addrs[i], o->name);
    }
    if (!found) {
      size_t w = (size_t)snprintf(why, wl, "import '%s' is not defined by any object the process has loaded (", full);
      for (int k = 0; k < p->nobjs && w < wl; k++)
        w += (size_t)snprintf(why + w, wl - w, "%s%s", k ? ", " : "", p->objs[k].name);
      if (w < wl) snprintf(why + w, wl - w, ")");
      goto out;
    }
  }
  rc = 0;
out:
  for (int k = 0; k < p->nobjs; k++)
    if (p->objs[k].ok != 2 && p->objs[k].buf) munmap(p->objs[k].buf, p->objs[k].len);
  if (p->memfd >= 0) close(p->memfd);
  free(p->maps);
  free(p);
  return rc;
}
