/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen's parts (docs/hacking.md): target.c (the target binary: its
 * symbols, redirection planning, direct call sites), writer.c (relocatable
 * objects -> payload), patchgen.c (main, the hand-written mode), diff.c (the
 * diff mode: compiles, function-by-function comparison, refusals),
 * difftree.c (its trees, #line renumbering, compile database), dwarf.c
 * (what it reads from DWARF), regs.c (the register-use check), util.c
 * (messages, files, processes).
 */
#ifndef HPM_PATCHGEN_PG_H
#define HPM_PATCHGEN_PG_H

#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "payload.h"

extern const char *pg_prog;
extern int pg_no_direct; /* --no-direct-entry */

__attribute__((format(printf, 1, 2), noreturn)) void pg_die(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void pg_warn(const char *fmt, ...);
/* A command-line mistake: the message, then where help is ("Try 'MODE
 * --help'."); returns exit status 2. */
__attribute__((format(printf, 2, 3))) int pg_usage_error(const char *mode, const char *fmt, ...);
/* Every mode's --help (-h), --version and getopt's mistakes (':', '?'):
 * returns the exit status. */
int pg_common_option(int c, char **argv, const char *mode, void (*usage)(FILE *));
/* A whole input file (target, debug file, object): 1 byte .. 1 GiB. */
uint8_t *pg_read_file(const char *path, size_t *len);
/* Run argv (no shell) in cwd (NULL: here), stdin from in, stdout to out
 * (NULL: inherited; stderr is inherited); returns the exit status, -1 if
 * it did not exit normally. */
int pg_run(char *const argv[], const char *cwd, const char *in, const char *out);

/* ---- the target binary (target.c) ---- */
typedef struct {
  const char *path;
  uint8_t *buf;
  size_t len;
  Elf *elf;             /* the binary: code bytes, .dynsym */
  hpp_elf_info info;
  Elf *sym;             /* whose .symtab names functions: elf, or the debug file */
  char dbg[PATH_MAX];   /* the debug file used, or where one was looked for ("" if not) */
  int dbg_used;
  int dynsym_warned;
} target_t;

void target_open(target_t *t, const char *path);
int target_has_symtab(Elf *e);
void target_debug(target_t *t, const char *file, const char *dir);
/* A defined symbol by name: .symtab (statics too; ambiguous ones fail),
 * then .dynsym (with a warning naming the missing debug file).
 * want_func: 1 functions only, 0 anything. */
int target_sym(target_t *t, const char *name, int want_func, GElf_Sym *out);
int target_read(target_t *t, uint64_t vaddr, uint8_t *out, size_t n);
/* The redirection of the function at symbol s (named name) into f. */
void target_plan(target_t *t, const char *name, const GElf_Sym *s, hpp_func *f, int quiesce);
/* A function the binary imports from a shared library and calls through
 * its PLT: the address of that PLT stub (0), or -1 (not called there). */
int target_plt(target_t *t, const char *name, uint64_t *addr);
/* The .symtab function symbol (of t->sym) starting at addr: its name, or NULL. */
const char *target_func_at(target_t *t, uint64_t addr, GElf_Sym *out);

/* ---- objects -> payload (writer.c) ---- */
typedef struct pg_obj pg_obj;
/* How the writer treats one object.  keep: per section index, 1 = into the
 * image (NULL: every allocated section but .eh_frame).  resolve: the target
 * address of a symbol the image does not define (NULL: by name,
 * target_sym, the binary's PLT, else an import); returns 0, 1 (not in the
 * binary: an import from the process's shared libraries, resolved by hpm
 * apply), or -1 after printing why. */
typedef struct {
  const unsigned char *keep;
  void *ctx;
  int (*resolve)(void *ctx, pg_obj *o, size_t symidx, const GElf_Sym *s, const char *name, uint64_t *addr);
} pg_hooks;

struct pg_obj {
  const char *path;      /* for messages */
  uint8_t *buf;
  size_t len;
  Elf *e;
  size_t shnum, shstr;
  Elf_Data *symd;
  size_t nsyms;
  size_t strndx;         /* string table of the symbols */
  pg_hooks hooks;
  uint64_t *img_off;     /* per section, once laid out */
  unsigned char *kept;   /* per section */
};

void pg_obj_open(pg_obj *o, const char *path);
const char *pg_obj_symname(pg_obj *o, const GElf_Sym *s);
const char *pg_obj_secname(pg_obj *o, size_t idx);

/* One replaced function: the planned redirection, and the replacement's
 * symbol (object index, symbol name, or symbol index if name is NULL). */
typedef struct {
  hpp_func f;
  size_t obj;
  const char *new_name;
  size_t new_sym;
  char why[256];         /* why it is replaced although its code is the same ("" if changed) */
  char covered_in[512];  /* the replaced functions holding its f.inlined copies: "a, b" */
  char stale_in[512];    /* the functions holding its f.inlined_stale copies */
  char carries[512];     /* what is inlined into it (its replacement carries their new code) */
  int inl_unknown;       /* no DWARF: whether it is inlined anywhere is not known */
} pg_redirect;

/* Says that patch code calls name through the binary's PLT stub. */
void pg_import_note(target_t *t, const char *name, uint64_t plt);

/* Lay out the objects, resolve their relocations, add the direct call
 * sites and write the payload to out; prints the per-function summary. */
void pg_write_payload(target_t *t, pg_obj *objs, size_t nobj, pg_redirect *r, size_t nr, const char *out);

/* ---- what it says (report.c) ---- */
extern int pg_json; /* --json: one document on stdout at exit */
void pg_report_begin(const char *mode);
void pg_report_target(const target_t *t);
/* A fatal (status 1) or usage (2) message: the document's "error". */
void pg_report_message(int status, const char *msg);
void pg_report_warning(const char *msg);
void pg_report_refusal(const char *cls, const char *msg);
/* A changed function that is not redirected, and why (also said on stderr). */
__attribute__((format(printf, 2, 3))) void pg_report_skip(const char *func, const char *fmt, ...);
/* One replaced function's summary line (and its JSON). */
void pg_report_func(const hpp_func *f, const pg_redirect *r, unsigned ncalls);
void pg_report_written(const char *out);
/* name added to a ", "-separated list of capacity cap, once. */
void pg_list_add(char *list, size_t cap, const char *name);
/* The binary's inlined copies of each of r[0..nr) (from t's DWARF): sets
 * f.inlined (copies inside functions of r), f.inlined_stale and the lists,
 * or inl_unknown when t has no DWARF. */
void pg_inlined_copies(target_t *t, pg_redirect *r, size_t nr);

/* ---- the register-use check (regs.c) ---- */
/* Call-clobbered registers, a bit each: rax rcx rdx rsi rdi r8-r11, xmm0-15. */
typedef uint32_t pg_regs;
#define PG_REGS_ALL ((1u << 25) - 1)
/* Code by address: func gives the bytes of the function at (or holding)
 * addr, its start and length, or NULL if unknown (a PLT stub, another
 * binary); reloc_target (may be NULL) the binary address a call or jump of
 * the instruction at addr..addr+len reaches through a relocation (0), or -1. */
typedef struct {
  const uint8_t *(*func)(void *ctx, uint64_t addr, uint64_t *start, size_t *len);
  int (*reloc_target)(void *ctx, uint64_t addr, size_t len, uint64_t *target);
} pg_code_ops;
typedef struct pg_regscan pg_regscan;
pg_regscan *pg_regscan_new(const pg_code_ops *ops, void *ctx);
void pg_regscan_free(pg_regscan *s);
/* The registers the function at addr and what it calls may write. */
pg_regs pg_clobbers(pg_regscan *s, uint64_t addr, int depth);
/* Of want, the registers a path from ret_addr in the function at func
 * reads before writing them (the caller relies on them surviving). */
pg_regs pg_relies(pg_regscan *s, uint64_t func, uint64_t ret_addr, pg_regs want);
void pg_regs_names(pg_regs r, char *out, size_t n);

/* ---- diff mode (diff.c, dwarf.c) ---- */
int pg_diff_main(int argc, char **argv);

#endif
