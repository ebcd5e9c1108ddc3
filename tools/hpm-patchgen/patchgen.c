/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen: build a hotpatch payload (docs/hotpatch-payload.md) from a
 * replacement source file (or object), an `old_fn=new_fn` description and the
 * target binary.  The release engineers' tool; never runs on hosts.
 */
#include <errno.h>
#include <fcntl.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <getopt.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "hpm/core.h"
#include "payload.h"
#include "version.h"
#include "x86.h"

static const char *prog = "hpm-patchgen";

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* A whole input file (target, debug file, object): 1 byte .. 1 GiB. */
static uint8_t *read_file(const char *path, size_t *len) {
  hpmh_status e;
  uint8_t *b;
  if (hpmh_read_file(path, 1u << 30, &b, len, &e)) die("%s", e.detail);
  if (!*len) die("%s: unusable size", path);
  return b;
}

/* ---- target binary ---- */
typedef struct {
  const char *path;
  uint8_t *buf;
  size_t len;
  Elf *elf;             /* the binary: code bytes, .dynsym */
  hpp_elf_info info;
  Elf *sym;             /* whose .symtab names functions: elf, or the debug file */
  char dbg[PATH_MAX];   /* the debug file used, or where one was looked for ("" if not) */
  int dbg_used;
} target_t;

static void target_open(target_t *t, const char *path) {
  memset(t, 0, sizeof *t);
  t->path = path;
  t->buf = read_file(path, &t->len);
  if (hpp_elf_info_parse(t->buf, t->len, &t->info))
    die("%s: not an x86-64 ELF with a GNU build-id note (link with --build-id)", path);
  t->elf = elf_memory((char *)t->buf, t->len);
  if (!t->elf) die("%s: %s", path, elf_errmsg(-1));
  t->sym = t->elf;
}

/* Does e have a .symtab with at least one symbol past the null entry? */
static int has_symtab(Elf *e) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(e, scn))) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB && sh.sh_entsize && sh.sh_size / sh.sh_entsize > 1)
      return 1;
  }
  return 0;
}

/*
 * Symbols of a stripped binary come from its separate debug file (what
 * `objcopy --only-keep-debug` writes and Debian's -dbgsym packages ship),
 * matched by build-id: the explicit file, or else (only when the binary
 * has no .symtab of its own) DIR/.build-id/xx/rest.debug.  Code bytes are
 * always read from the binary itself.
 */
static void target_debug(target_t *t, const char *file, const char *dir) {
  char id[2 * HPP_BUILD_ID_MAX + 1];
  hpm_fmt_hex(t->info.build_id, t->info.build_id_len, id, sizeof id);
  if (!file) {
    if (has_symtab(t->elf)) return;
    snprintf(t->dbg, sizeof t->dbg, "%s/.build-id/%.2s/%s.debug", dir, id, id + 2);
    if (access(t->dbg, R_OK)) return; /* not there: a missing symbol says where it was looked for */
  } else {
    snprintf(t->dbg, sizeof t->dbg, "%s", file);
  }
  size_t len;
  uint8_t *buf = read_file(t->dbg, &len);
  Elf *e = elf_memory((char *)buf, len);
  GElf_Ehdr eh;
  if (!e || !gelf_getehdr(e, &eh) || eh.e_machine != EM_X86_64)
    die("%s: not an x86-64 ELF debug file", t->dbg);
  const void *dbg_id;
  ssize_t n = dwelf_elf_gnu_build_id(e, &dbg_id);
  if (n <= 0) die("%s: has no GNU build-id note, so it cannot be matched to %s", t->dbg, t->path);
  if ((size_t)n != t->info.build_id_len || memcmp(dbg_id, t->info.build_id, (size_t)n)) {
    char other[2 * HPP_BUILD_ID_MAX + 1];
    hpm_fmt_hex(dbg_id, (size_t)n < HPP_BUILD_ID_MAX ? (size_t)n : HPP_BUILD_ID_MAX, other, sizeof other);
    die("%s: build-id %s, but %s has %s: the debug file belongs to another build", t->dbg, other, t->path, id);
  }
  if (!has_symtab(e)) die("%s: has no symbol table (.symtab)", t->dbg);
  t->sym = e;
  t->dbg_used = 1;
}

/* Find a defined symbol by name in .symtab (incl. static; the debug file's
 * for a stripped binary) then .dynsym.
 * want_func: 1 functions only, 0 anything.  Ambiguous local names fail. */
static int target_sym(target_t *t, const char *name, int want_func, GElf_Sym *out) {
  for (int pass = 0; pass < 2; pass++) {
    Elf *e = pass == 0 ? t->sym : t->elf;
    Elf_Scn *scn = NULL;
    int found = 0;
    while ((scn = elf_nextscn(e, scn))) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      if (sh.sh_type != (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM)) continue;
      Elf_Data *d = elf_getdata(scn, NULL);
      if (!d || !sh.sh_entsize) continue;
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym s;
        if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || s.st_shndx == SHN_ABS) continue;
        int ty = GELF_ST_TYPE(s.st_info);
        if (want_func && ty != STT_FUNC) continue;
        if (!want_func && ty != STT_FUNC && ty != STT_OBJECT && ty != STT_TLS && ty != STT_NOTYPE) continue;
        if (ty == STT_TLS) die("%s: symbol '%s' is thread-local: not supported", t->path, name);
        const char *nm = elf_strptr(e, sh.sh_link, s.st_name);
        if (!nm || strcmp(nm, name)) continue;
        if (found && out->st_value != s.st_value)
          die("%s: symbol '%s' is ambiguous (several static definitions)", t->path, name);
        *out = s;
        found = 1;
      }
    }
    if (found) return 0;
  }
  return -1;
}

/* Copy the file bytes backing vaddr..vaddr+n; -1 if not all in one PT_LOAD. */
static int target_read(target_t *t, uint64_t vaddr, uint8_t *out, size_t n) {
  size_t phnum;
  if (elf_getphdrnum(t->elf, &phnum)) return -1;
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(t->elf, (int)i, &ph) || ph.p_type != PT_LOAD) continue;
    if (vaddr < ph.p_vaddr || vaddr + n > ph.p_vaddr + ph.p_filesz) continue;
    uint64_t off = ph.p_offset + (vaddr - ph.p_vaddr);
    if (off + n > t->len) return -1;
    memcpy(out, t->buf + off, n);
    return 0;
  }
  return -1;
}

struct branch_ctx { uint64_t lo, hi; int bad; };
static void branch_cb(void *c, uint64_t target) {
  struct branch_ctx *b = c;
  if (target > b->lo && target < b->hi) b->bad = 1;
}

static int no_direct;

static void plan_function(target_t *t, const char *old, hpp_func *f, int quiesce) {
  GElf_Sym s;
  if (target_sym(t, old, 1, &s)) {
    if (t->dbg_used) die("%s: no function symbol '%s' in its debug file %s", t->path, old, t->dbg);
    if (!has_symtab(t->elf))
      die("%s: no function symbol '%s': the binary is stripped and no debug file was found%s%s "
          "(install its debug symbols, e.g. the -dbgsym package, or pass --debug-file)",
          t->path, old, t->dbg[0] ? " at " : "", t->dbg);
    die("%s: no function symbol '%s'", t->path, old);
  }
  memset(f, 0, sizeof *f);
  if (strlen(old) > HPP_NAME_MAX) die("symbol '%s' longer than %u characters", old, HPP_NAME_MAX);
  memcpy(f->name, old, strlen(old) + 1);
  f->entry = s.st_value;
  f->size = (uint32_t)s.st_size;
  f->flags = quiesce ? HPP_F_QUIESCE : 0;
  uint8_t pre[14], at[40];
  memset(at, 0, sizeof at);
  size_t avail = s.st_size ? (s.st_size < sizeof at ? s.st_size : sizeof at) : sizeof at;
  if (target_read(t, s.st_value, at, avail)) die("%s: '%s' is not in a loaded segment", t->path, old);
  int endbr = avail >= 4 && !memcmp(at, "\xf3\x0f\x1e\xfa", 4);
  size_t e = endbr ? 4 : 0;
  int pad = s.st_value >= 14 && !target_read(t, s.st_value - 14, pre, 14) &&
            avail >= e + 2 && (at[e] == 0x66 || at[e] == 0x90) && at[e + 1] == 0x90;
  for (int i = 0; pad && i < 14; i++) pad = pre[i] == 0x90;
  if (pad) {
    f->mode = HPP_MODE_PAD;
    f->region = s.st_value - 14;
    f->flip_off = (uint8_t)(14 + e);
    f->region_len = (uint8_t)(f->flip_off + 2);
    memcpy(f->orig, pre, 14);
    memcpy(f->orig + 14, at, e + 2);
    /* Direct entry jump (payload version 2): the region goes on over whole
     * body instructions (>= 3 bytes) so that, once committed, the entry holds
     * one 5-byte jump to the new code instead of entry -> pad -> new code.
     * Not when the body starts with control flow, an 8-bit relative
     * operand, or a branch of the function lands inside those bytes (the
     * function then keeps the two-jump form). */
    size_t covered;
    x86_fix fix[X86_MAX_FIX];
    int nfix;
    const char *why = NULL;
    size_t body = e + 2;
    if (no_direct || !s.st_size ||
        x86_prologue(at + body, avail - body, HPP_DIRECT_MIN, &covered, fix, &nfix, &why) ||
        f->region_len + covered > HPP_REGION_MAX)
      return;
    if (x86_has_call(at + body, covered)) return; /* a return address would point inside */
    uint8_t *code = malloc(s.st_size);
    if (!code || target_read(t, s.st_value, code, s.st_size)) die("%s: cannot read '%s'", t->path, old);
    struct branch_ctx b = {s.st_value + e, s.st_value + body + covered, 0};
    x86_branch_targets(code, s.st_size, s.st_value, branch_cb, &b);
    free(code);
    if (b.bad) return;
    memcpy(f->orig + f->region_len, at + body, covered);
    f->region_len = (uint8_t)(f->region_len + covered);
    return;
  }
  f->mode = HPP_MODE_PROLOGUE;
  f->region = s.st_value + e;
  size_t covered;
  x86_fix fix[X86_MAX_FIX];
  int nfix;
  const char *why;
  if (x86_prologue(at + e, avail - e, 5, &covered, fix, &nfix, &why))
    die("%s: cannot redirect '%s': %s", t->path, old, why);
  if (covered > HPP_REGION_MAX) die("%s: '%s': prologue instructions too long", t->path, old);
  if (x86_has_call(at + e, covered))
    die("%s: '%s' calls within its first %zu bytes and goes on after the call there (a return address would "
        "point into the rewritten bytes): "
        "compile it with -fpatchable-function-entry=16,14", t->path, old, covered);
  /* a branch into the middle of the rewritten bytes would land in our jump */
  if (s.st_size) {
    uint8_t *code = malloc(s.st_size);
    if (!code || target_read(t, s.st_value, code, s.st_size)) die("%s: cannot read '%s'", t->path, old);
    struct branch_ctx b = {f->region, f->region + covered, 0};
    x86_branch_targets(code, s.st_size, s.st_value, branch_cb, &b);
    free(code);
    if (b.bad) die("%s: '%s' branches into its first %zu bytes: compile it with -fpatchable-function-entry=16,14", t->path, old, covered);
  }
  f->region_len = (uint8_t)covered;
  memcpy(f->orig, at + e, covered);
}

/* ---- call sites (payload version 2) ----
 * Direct `call rel32` / `jmp rel32` instructions anywhere in the binary's
 * functions whose target is the entry of a redirected function: hpm points
 * them at the replacement too, so such calls take no extra jump at all.
 * Only functions that decode as whole instructions ending exactly at their
 * st_size are searched (compiler output; anything else keeps calling the
 * entry, which is redirected anyway). */
typedef struct {
  const hpp_func *funcs;
  size_t nfuncs;
  hpp_func *out;
  size_t n, cap;
  int *of;          /* function index of each call site */
} callscan;

static void call_cb(void *c, uint64_t at, uint64_t target) {
  callscan *cs = c;
  for (size_t i = 0; i < cs->nfuncs; i++) {
    const hpp_func *f = &cs->funcs[i];
    if (f->mode == HPP_MODE_CALL || f->entry != target) continue;
    for (size_t k = 0; k < cs->n; k++)
      if (cs->out[k].region == at) return; /* aliases of one function */
    for (size_t k = 0; k < cs->nfuncs; k++) /* never inside a rewritten region */
      if (at < cs->funcs[k].region + cs->funcs[k].region_len && cs->funcs[k].region < at + 5) return;
    if (cs->n == cs->cap) return;
    hpp_func *o = &cs->out[cs->n];
    memset(o, 0, sizeof *o);
    memcpy(o->name, f->name, sizeof o->name);
    o->entry = f->entry;
    o->region = at;
    o->mode = HPP_MODE_CALL;
    o->region_len = 5;
    cs->of[cs->n++] = (int)i;
    return;
  }
}

static void find_call_sites(target_t *t, callscan *cs) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(t->sym, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    if (!d) continue;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; i++) {
      GElf_Sym s;
      if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF ||
          !s.st_size || s.st_size > (1u << 24))
        continue;
      uint8_t *code = malloc(s.st_size);
      if (code && !target_read(t, s.st_value, code, s.st_size)) {
        uint8_t orig[5];
        size_t before = cs->n;
        if (x86_direct_calls(code, s.st_size, s.st_value, call_cb, cs)) cs->n = before;
        for (size_t k = before; k < cs->n; k++) {
          memcpy(orig, code + (cs->out[k].region - s.st_value), 5);
          memcpy(cs->out[k].orig, orig, 5);
        }
      }
      free(code);
    }
  }
}

/* ---- replacement object ---- */
typedef struct { size_t idx; uint64_t img_off; int keep; } sec_t;
typedef struct { int base; int64_t value; uint64_t got; } gotent;

static int64_t align_up(int64_t v, int64_t a) { return a > 1 ? (v + a - 1) / a * a : v; }

static void compile(const char *src, const char *cc, const char *cflags, char *obj, size_t objlen) {
  char tmpl[] = "/tmp/hpm-patchgen-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) die("mkstemp: %s", strerror(errno));
  close(fd);
  snprintf(obj, objlen, "%s", tmpl);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s -c -O2 -fPIE -fno-asynchronous-unwind-tables -fno-exceptions -fcf-protection=full %s -o '%s' '%s'",
           cc, cflags ? cflags : "", obj, src);
  int st = system(cmd);
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
    unlink(obj);
    die("compiling %s failed: %s", src, cmd);
  }
}

typedef struct { char old[128], neu[128]; int quiesce; } mapent;

static size_t read_map(const char *path, mapent *m, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) die("%s: %s", path, strerror(errno));
  char line[512];
  size_t n = 0, ln = 0;
  while (fgets(line, sizeof line, f)) {
    ln++;
    char *h = strchr(line, '#');
    if (h) *h = 0;
    char a[200], b[200], c[200];
    int k = sscanf(line, " %199[^= \t\n] = %199s %199s", a, b, c);
    if (k <= 0) continue;
    if (k < 2 || strlen(a) >= 128 || strlen(b) >= 128) die("%s:%zu: expected 'old_fn=new_fn [quiesce]'", path, ln);
    if (k == 3 && strcmp(c, "quiesce")) die("%s:%zu: unknown flag '%s'", path, ln, c);
    if (n == cap) die("%s: more than %zu functions", path, cap);
    snprintf(m[n].old, sizeof m[n].old, "%s", a);
    snprintf(m[n].neu, sizeof m[n].neu, "%s", b);
    m[n].quiesce = k == 3;
    n++;
  }
  fclose(f);
  if (!n) die("%s: no 'old_fn=new_fn' lines", path);
  return n;
}

static void usage(FILE *o) {
  fprintf(o,
          "usage: hpm-patchgen --target BINARY --map FILE (--source FILE.c | --object FILE.o)\n"
          "                    [--debug-file FILE | --debug-dir DIR] [--cc CC] [--cflags FLAGS]\n"
          "                    [--no-direct-entry] --out PAYLOAD\n"
          "Build a hotpatch payload for `hpm-sign hotpatch --payload`.\n"
          "  --target  the exact binary (matched by ELF build-id) whose functions are replaced\n"
          "  --map     lines 'old_fn=new_fn [quiesce]': old_fn in the target, new_fn in the source\n"
          "  --source  replacement C source, compiled with -fPIE (extern declarations resolve\n"
          "            against the target's symbols, static ones included)\n"
          "  --object  an already compiled relocatable object (-fPIE) instead of --source\n"
          "  --debug-file  the target's separate debug file (objcopy --only-keep-debug, a\n"
          "            -dbgsym package): its symbol table names the functions; its build-id\n"
          "            must equal the target's\n"
          "  --debug-dir  where to look for it when the target is stripped:\n"
          "            DIR/.build-id/xx/rest.debug (default /usr/lib/debug)\n"
          "  --no-direct-entry  patchable entries keep the two-jump form (entry -> pad -> new\n"
          "            code) instead of one direct jump at the entry, and direct call sites\n"
          "            are not redirected; the payload is then version 1 (readable by older hpm)\n"
          "See docs/hotpatch-authoring.md.\n");
}

/* A command-line mistake: the message, then where help is; exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'hpm-patchgen --help'.\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *tpath = NULL, *mpath = NULL, *src = NULL, *objpath = NULL, *out = NULL;
  const char *cc = getenv("CC") ? getenv("CC") : "cc", *cflags = NULL;
  const char *dbg_file = NULL, *dbg_dir = "/usr/lib/debug";
  static const struct option opts[] = {
      {"target", 1, 0, 't'}, {"map", 1, 0, 'm'}, {"source", 1, 0, 's'}, {"object", 1, 0, 'o'},
      {"out", 1, 0, 'O'},    {"cc", 1, 0, 'c'},  {"cflags", 1, 0, 'f'}, {"help", 0, 0, 'h'},
      {"no-direct-entry", 0, 0, 'n'}, {"debug-file", 1, 0, 'd'}, {"debug-dir", 1, 0, 'D'},
      {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
  int c;
  opterr = 0; /* our messages, not getopt's */
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 't': tpath = optarg; break;
    case 'm': mpath = optarg; break;
    case 's': src = optarg; break;
    case 'o': objpath = optarg; break;
    case 'O': out = optarg; break;
    case 'c': cc = optarg; break;
    case 'f': cflags = optarg; break;
    case 'n': no_direct = 1; break;
    case 'd': dbg_file = optarg; break;
    case 'D': dbg_dir = optarg; break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("hpm-patchgen %s (payload format %u)\n", HPM_PROJECT_VERSION, HPP_VERSION); return 0;
    case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
    default: return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind != argc) return usage_error("unexpected argument '%s': every input is given by an option", argv[optind]);
  if (!tpath) return usage_error("--target BINARY is required");
  if (!mpath) return usage_error("--map FILE is required");
  if (!out) return usage_error("--out PAYLOAD is required");
  if (!!src == !!objpath) return usage_error("give exactly one of --source FILE.c or --object FILE.o");
  elf_version(EV_CURRENT);

  target_t t;
  target_open(&t, tpath);
  target_debug(&t, dbg_file, dbg_dir);
  if (t.dbg_used) fprintf(stderr, "%s: symbols of %s from %s\n", prog, tpath, t.dbg);
  static mapent map[HPP_MAX_FUNCS];
  size_t nmap = read_map(mpath, map, HPP_MAX_FUNCS);
  hpp_func *funcs = calloc(nmap, sizeof *funcs);
  for (size_t i = 0; i < nmap; i++) plan_function(&t, map[i].old, &funcs[i], map[i].quiesce);
  callscan cs = {funcs, nmap, NULL, 0, 0, NULL};
  if (!no_direct) {
    cs.cap = HPP_MAX_FUNCS - nmap;
    cs.out = calloc(cs.cap + 1, sizeof *cs.out);
    cs.of = calloc(cs.cap + 1, sizeof *cs.of);
    if (!cs.out || !cs.of) die("out of memory");
    find_call_sites(&t, &cs);
  }

  char tmpobj[64] = "";
  if (src) { compile(src, cc, cflags, tmpobj, sizeof tmpobj); objpath = tmpobj; }
  size_t olen;
  uint8_t *obuf = read_file(objpath, &olen);
  if (tmpobj[0]) unlink(tmpobj);
  Elf *o = elf_memory((char *)obuf, olen);
  GElf_Ehdr eh;
  if (!o || !gelf_getehdr(o, &eh) || eh.e_type != ET_REL || eh.e_machine != EM_X86_64)
    die("%s: not an x86-64 relocatable object", objpath);
  size_t shnum, shstr;
  if (elf_getshdrnum(o, &shnum) || elf_getshdrstrndx(o, &shstr)) die("%s: bad section table", objpath);
  sec_t *secs = calloc(shnum, sizeof *secs);
  Elf_Scn *symscn = NULL;
  GElf_Shdr symsh;
  memset(&symsh, 0, sizeof symsh);

  /* layout: code and read-only data, GOT slots, then (page-aligned) writable data */
  int64_t off = 0;
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) off = align_up(off, HPP_PAGE);
    for (size_t i = 1; i < shnum; i++) {
      GElf_Shdr sh;
      Elf_Scn *scn = elf_getscn(o, i);
      if (!gelf_getshdr(scn, &sh)) continue;
      if (sh.sh_type == SHT_SYMTAB) { symscn = scn; symsh = sh; }
      if (!(sh.sh_flags & SHF_ALLOC) || (sh.sh_type != SHT_PROGBITS && sh.sh_type != SHT_NOBITS &&
                                         sh.sh_type != SHT_INIT_ARRAY && sh.sh_type != SHT_FINI_ARRAY))
        continue;
      const char *nm = elf_strptr(o, shstr, sh.sh_name);
      if (nm && !strcmp(nm, ".eh_frame")) continue;
      if (sh.sh_type == SHT_INIT_ARRAY || sh.sh_type == SHT_FINI_ARRAY)
        die("%s: constructors/destructors are not supported in replacement code", objpath);
      if (sh.sh_flags & SHF_TLS) die("%s: thread-local variables are not supported", objpath);
      int writable = (sh.sh_flags & SHF_WRITE) != 0;
      if (writable != phase) continue;
      if (sh.sh_addralign > HPP_PAGE) die("%s: section %s alignment too large", objpath, nm);
      off = align_up(off, (int64_t)sh.sh_addralign);
      secs[i].img_off = (uint64_t)off;
      secs[i].keep = 1;
      off += (int64_t)sh.sh_size;
    }
    if (phase == 0) off = align_up(off, 8);
    if (phase == 0) secs[0].img_off = (uint64_t)off; /* GOT starts here; sized below */
    if (phase == 0) {
      /* count GOT entries first (upper bound: one per relocation) */
      size_t ngot = 0;
      for (size_t i = 1; i < shnum; i++) {
        GElf_Shdr sh;
        if (!gelf_getshdr(elf_getscn(o, i), &sh) || sh.sh_type != SHT_RELA) continue;
        ngot += sh.sh_size / (sh.sh_entsize ? sh.sh_entsize : 24);
      }
      off += (int64_t)ngot * 8;
    }
  }
  if (!symscn) die("%s: no symbol table", objpath);
  int64_t data_off = align_up(off, HPP_PAGE);
  /* data_off is the first writable section's offset if any exist */
  int have_data = 0;
  int64_t first_w = INT64_MAX;
  for (size_t i = 1; i < shnum; i++) {
    GElf_Shdr sh;
    if (secs[i].keep && gelf_getshdr(elf_getscn(o, i), &sh) && (sh.sh_flags & SHF_WRITE)) {
      have_data = 1;
      if ((int64_t)secs[i].img_off < first_w) first_w = (int64_t)secs[i].img_off;
    }
  }
  int64_t image_size = off;
  if (image_size > HPP_IMAGE_MAX || image_size <= 0) die("%s: replacement image is empty or too large", objpath);
  uint8_t *img = calloc(1, (size_t)image_size);
  for (size_t i = 1; i < shnum; i++) {
    GElf_Shdr sh;
    Elf_Scn *scn = elf_getscn(o, i);
    if (!secs[i].keep || !gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS) continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    if (d && d->d_buf && d->d_size) memcpy(img + secs[i].img_off, d->d_buf, d->d_size);
  }

  Elf_Data *symd = elf_getdata(symscn, NULL);
  size_t nsyms = symsh.sh_size / symsh.sh_entsize;
  /* resolve a symbol: base + value */
  hpp_reloc *rel = NULL;
  size_t nrel = 0, caprel = 0;
  gotent *got = NULL;
  size_t ngot = 0;
  uint64_t got_next = secs[0].img_off;
  for (size_t i = 1; i < shnum; i++) {
    GElf_Shdr sh;
    Elf_Scn *scn = elf_getscn(o, i);
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA) continue;
    if (sh.sh_info >= shnum || !secs[sh.sh_info].keep) continue; /* e.g. .rela.eh_frame */
    if (sh.sh_type == SHT_REL) die("%s: REL relocations are not supported", objpath);
    Elf_Data *d = elf_getdata(scn, NULL);
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t k = 0; k < n; k++) {
      GElf_Rela r;
      if (!gelf_getrela(d, (int)k, &r)) die("%s: bad relocation", objpath);
      size_t si = GELF_R_SYM(r.r_info);
      unsigned type = GELF_R_TYPE(r.r_info);
      GElf_Sym s;
      if (si >= nsyms || !gelf_getsym(symd, (int)si, &s)) die("%s: bad symbol index", objpath);
      const char *sn = elf_strptr(o, symsh.sh_link, s.st_name);
      int base;
      int64_t S;
      if (s.st_shndx == SHN_UNDEF) {
        GElf_Sym ts;
        if (!sn || !*sn || target_sym(&t, sn, 0, &ts))
          die("%s: '%s' is neither defined in the replacement nor a symbol of %s", objpath, sn ? sn : "?", tpath);
        base = HPP_B_TARGET;
        S = (int64_t)ts.st_value;
      } else if (s.st_shndx < shnum && secs[s.st_shndx].keep) {
        base = HPP_B_IMAGE;
        S = (int64_t)(secs[s.st_shndx].img_off + s.st_value);
      } else {
        die("%s: relocation against '%s' in an unsupported section", objpath, sn ? sn : "?");
      }
      uint64_t P = secs[sh.sh_info].img_off + r.r_offset;
      if (P + 8 > (uint64_t)image_size && type == R_X86_64_64) die("%s: relocation outside its section", objpath);
      if (nrel + 2 > caprel) { caprel = caprel ? caprel * 2 : 64; rel = realloc(rel, caprel * sizeof *rel); }
      switch (type) {
      case R_X86_64_64:
        rel[nrel++] = (hpp_reloc){(uint32_t)P, HPP_R_ABS64, (uint8_t)base, S + r.r_addend};
        break;
      case R_X86_64_PC32:
      case R_X86_64_PLT32:
        if (base == HPP_B_IMAGE) {
          int64_t v = S + r.r_addend - (int64_t)P;
          int32_t v32 = (int32_t)v;
          memcpy(img + P, &v32, 4);
        } else {
          rel[nrel++] = (hpp_reloc){(uint32_t)P, HPP_R_PC32, (uint8_t)base, S + r.r_addend};
        }
        break;
      case R_X86_64_GOTPCREL:
      case R_X86_64_GOTPCRELX:
      case R_X86_64_REX_GOTPCRELX: {
        uint64_t slot = 0;
        for (size_t g = 0; g < ngot; g++)
          if (got[g].base == base && got[g].value == S) slot = got[g].got;
        if (!slot) {
          got = realloc(got, (ngot + 1) * sizeof *got);
          slot = got_next;
          got_next += 8;
          got[ngot++] = (gotent){base, S, slot};
          rel[nrel++] = (hpp_reloc){(uint32_t)slot, HPP_R_ABS64, (uint8_t)base, S};
        }
        int32_t v32 = (int32_t)((int64_t)slot + r.r_addend - (int64_t)P);
        memcpy(img + P, &v32, 4);
        break;
      }
      default:
        die("%s: relocation type %u against '%s' is not supported (compile with -fPIE)", objpath, type,
            sn ? sn : "?");
      }
    }
  }

  /* new functions */
  for (size_t i = 0; i < nmap; i++) {
    int found = 0;
    for (size_t k = 1; k < nsyms; k++) {
      GElf_Sym s;
      if (!gelf_getsym(symd, (int)k, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC) continue;
      const char *sn = elf_strptr(o, symsh.sh_link, s.st_name);
      if (!sn || strcmp(sn, map[i].neu) || s.st_shndx >= shnum || !secs[s.st_shndx].keep) continue;
      funcs[i].image_off = (uint32_t)(secs[s.st_shndx].img_off + s.st_value);
      found = 1;
    }
    if (!found) die("%s: no function '%s' in the replacement", src ? src : objpath, map[i].neu);
  }

  hpp_payload p;
  memset(&p, 0, sizeof p);
  memcpy(p.build_id, t.info.build_id, t.info.build_id_len);
  p.build_id_len = t.info.build_id_len;
  p.func_count = (uint32_t)nmap;
  p.reloc_count = (uint32_t)nrel;
  p.image_size = (uint32_t)image_size;
  p.data_off = have_data ? (uint32_t)first_w : (uint32_t)image_size;
  (void)data_off;
  /* call sites follow the functions, with their function's replacement */
  if (cs.n) {
    hpp_func *all = realloc(funcs, (nmap + cs.n) * sizeof *funcs);
    if (!all) die("out of memory");
    funcs = all;
    for (size_t k = 0; k < cs.n; k++) {
      cs.out[k].image_off = funcs[cs.of[k]].image_off;
      funcs[nmap + k] = cs.out[k];
    }
  }
  size_t nfn = nmap;
  nmap += cs.n;
  p.func_count = (uint32_t)nmap;
  size_t total = HPP_HEADER_SIZE + nmap * HPP_FUNC_SIZE + nrel * HPP_RELOC_SIZE + (size_t)image_size;
  uint8_t *pb = calloc(1, total);
  if (!pb) die("out of memory");
  /* the lowest version that describes it: 2 for direct entry jumps and call sites */
  p.version = cs.n ? 2 : 1;
  for (size_t i = 0; i < nmap; i++)
    if (funcs[i].mode == HPP_MODE_PAD && funcs[i].region_len > funcs[i].flip_off + 2) p.version = 2;
  hpp_put_header(pb, &p);
  for (size_t i = 0; i < nmap; i++) hpp_put_func(pb + HPP_HEADER_SIZE + i * HPP_FUNC_SIZE, &funcs[i]);
  uint8_t *rp = pb + HPP_HEADER_SIZE + nmap * HPP_FUNC_SIZE;
  for (size_t i = 0; i < nrel; i++) hpp_put_reloc(rp + i * HPP_RELOC_SIZE, &rel[i]);
  memcpy(rp + nrel * HPP_RELOC_SIZE, img, (size_t)image_size);

  hpp_payload chk;
  char why[160];
  if (hpp_parse(pb, total, &chk, why, sizeof why) != HPP_OK) die("internal: produced payload does not parse: %s", why);
  hpmh_status e;
  if (hpmh_write_file(out, pb, total, 0644, 0, &e)) die("cannot write %s", e.detail);
  for (size_t i = 0; i < nfn; i++) {
    unsigned ncalls = 0;
    for (size_t k = 0; k < cs.n; k++) ncalls += cs.of[k] == (int)i;
    fprintf(stderr, "%s: %s -> %s (%s, %u bytes at 0x%llx; %u direct call site(s))\n", prog, map[i].old,
            map[i].neu,
            funcs[i].mode == HPP_MODE_PROLOGUE            ? "prologue"
            : funcs[i].region_len > funcs[i].flip_off + 2 ? "patchable entry, direct jump"
                                                          : "patchable entry, two jumps",
            funcs[i].region_len, (unsigned long long)funcs[i].region, ncalls);
  }
  return 0;
}
