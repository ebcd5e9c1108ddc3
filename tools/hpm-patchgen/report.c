/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen: what it says about the payload it builds.  Each replaced
 * function's line on stderr says how calls reach the new code (entry
 * redirect, direct call sites rewritten, inlined copies covered or not);
 * with --json the same facts, the warnings and the refusals go to stdout
 * as one JSON document (docs/hotpatch-authoring.md, "--json"), printed
 * when the program ends, whatever the outcome.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hpm/core.h"
#include "json.h"
#include "pg.h"

int pg_json;

static struct {
  cJSON *doc, *functions, *skipped, *warnings, *refusals;
  int status;         /* 0 written, 1 refused/failed, 2 usage */
  char message[1024]; /* the last fatal or usage message */
} rep = {.status = 1};

static void set(const char *key, cJSON *v) {
  if (rep.doc) cJSON_ReplaceItemInObject(rep.doc, key, v ? v : cJSON_CreateNull());
  else cJSON_Delete(v);
}

static void emit(void) {
  if (!rep.doc) return;
  if (rep.status) {
    cJSON *e = cJSON_CreateObject();
    hpmh_json_add_u64(e, "exit", (uint64_t)rep.status);
    hpmh_json_add_str(e, "kind", rep.status == 2 ? "usage" : "refused");
    hpmh_json_add_str(e, "message", rep.message[0] ? rep.message : "failed");
    set("error", e);
    set("payload", NULL);
  }
  fflush(stderr);
  char *text = cJSON_PrintUnformatted(rep.doc);
  if (text) printf("%s\n", text);
  free(text);
  fflush(stdout);
  cJSON_Delete(rep.doc);
  rep.doc = NULL;
}

void pg_report_begin(const char *mode) {
  if (!pg_json || rep.doc) return;
  rep.doc = cJSON_CreateObject();
  hpmh_json_add_str(rep.doc, "schema", "hpm-patchgen-json/1");
  hpmh_json_add_str(rep.doc, "mode", mode);
  hpmh_json_add_null(rep.doc, "target");
  hpmh_json_add_null(rep.doc, "build_id");
  hpmh_json_add_null(rep.doc, "symbols");
  hpmh_json_add_null(rep.doc, "payload");
  rep.functions = hpmh_json_add(rep.doc, "functions", cJSON_CreateArray());
  rep.skipped = hpmh_json_add(rep.doc, "not_redirected", cJSON_CreateArray());
  rep.warnings = hpmh_json_add(rep.doc, "warnings", cJSON_CreateArray());
  rep.refusals = hpmh_json_add(rep.doc, "refusals", cJSON_CreateArray());
  hpmh_json_add_null(rep.doc, "error");
  atexit(emit);
}

void pg_report_target(const target_t *t) {
  if (!rep.doc) return;
  char id[2 * HPP_BUILD_ID_MAX + 1];
  hpm_fmt_hex(t->info.build_id, t->info.build_id_len, id, sizeof id);
  set("target", hpmh_json_string(t->path));
  set("build_id", hpmh_json_string(id));
  cJSON *s = cJSON_CreateObject();
  hpmh_json_add_str(s, "from", t->dbg_used ? "debug-file" : target_has_symtab(t->elf) ? "symtab" : "dynsym");
  hpmh_json_add(s, "debug_file", hpmh_json_string(t->dbg[0] ? t->dbg : NULL));
  hpmh_json_add_bool(s, "debug_file_found", t->dbg_used);
  set("symbols", s);
}

void pg_report_message(int status, const char *msg) {
  if (status > rep.status || status == 2) rep.status = status;
  snprintf(rep.message, sizeof rep.message, "%s", msg);
}

void pg_report_warning(const char *msg) {
  if (rep.warnings) cJSON_AddItemToArray(rep.warnings, hpmh_json_string(msg));
}

void pg_report_refusal(const char *cls, const char *msg) {
  if (!rep.refusals) return;
  cJSON *r = cJSON_CreateObject();
  hpmh_json_add_str(r, "class", cls);
  hpmh_json_add_str(r, "message", msg);
  cJSON_AddItemToArray(rep.refusals, r);
}

void pg_report_skip(const char *func, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", pg_prog, msg);
  if (!rep.skipped) return;
  cJSON *r = cJSON_CreateObject();
  hpmh_json_add_str(r, "name", func);
  hpmh_json_add_str(r, "reason", msg);
  cJSON_AddItemToArray(rep.skipped, r);
}

/* "a, b, c" as a JSON array. */
static cJSON *name_list(const char *s) {
  cJSON *a = cJSON_CreateArray();
  while (s && *s) {
    const char *e = strstr(s, ", ");
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char *one = strndup(s, n);
    if (!one) pg_die("out of memory");
    cJSON_AddItemToArray(a, hpmh_json_string(one));
    free(one);
    s = e ? e + 2 : NULL;
  }
  return a;
}

static const char *redirect_kind(const hpp_func *f) {
  return f->mode == HPP_MODE_PROLOGUE ? "prologue" : f->region_len > f->flip_off + 2 ? "patchable-direct" : "patchable-two-jumps";
}

void pg_report_func(const hpp_func *f, const pg_redirect *r, unsigned ncalls) {
  char inl[1400] = "no inlined copies";
  if (r->inl_unknown) {
    snprintf(inl, sizeof inl, "inlined copies unknown (no DWARF to tell)");
  } else if (f->inlined || f->inlined_stale) {
    int at = 0;
    if (f->inlined)
      at = snprintf(inl, sizeof inl, "%u inlined cop%s covered (in %s)", f->inlined, f->inlined == 1 ? "y" : "ies",
                    r->covered_in);
    if (f->inlined_stale)
      snprintf(inl + at, sizeof inl - (size_t)at, "%s%u inlined cop%s NOT replaced (in %s: those callers keep the old code)",
               at ? "; " : "", f->inlined_stale, f->inlined_stale == 1 ? "y" : "ies", r->stale_in);
  }
  fprintf(stderr, "%s: %s%s%s (%s, %u bytes at 0x%llx; %u direct call site(s); entry redirect%s%s%s; %s%s%s)\n",
          pg_prog, f->name, r->new_name ? " -> " : "", r->new_name ? r->new_name : "",
          f->mode == HPP_MODE_PROLOGUE            ? "prologue"
          : f->region_len > f->flip_off + 2 ? "patchable entry, direct jump"
                                            : "patchable entry, two jumps",
          f->region_len, (unsigned long long)f->region, ncalls, r->why[0] ? " (" : "", r->why, r->why[0] ? ")" : "",
          inl, r->carries[0] ? "; carries the inlined code of " : "", r->carries);
  if (!rep.functions) return;
  cJSON *o = cJSON_CreateObject();
  hpmh_json_add_str(o, "name", f->name);
  hpmh_json_add(o, "replacement", hpmh_json_string(r->new_name));
  hpmh_json_add_u64(o, "entry", f->entry);
  hpmh_json_add_str(o, "redirect", redirect_kind(f));
  hpmh_json_add_u64(o, "region", f->region);
  hpmh_json_add_u64(o, "region_len", f->region_len);
  hpmh_json_add_bool(o, "quiesce", !!(f->flags & HPP_F_QUIESCE));
  hpmh_json_add_u64(o, "direct_call_sites", ncalls);
  hpmh_json_add(o, "reason", hpmh_json_string(r->why[0] ? r->why : NULL));
  if (r->inl_unknown) {
    hpmh_json_add_null(o, "inlined");
  } else {
    cJSON *i = cJSON_CreateObject();
    hpmh_json_add_u64(i, "covered", f->inlined);
    hpmh_json_add(i, "covered_in", name_list(r->covered_in));
    hpmh_json_add_u64(i, "not_covered", f->inlined_stale);
    hpmh_json_add(i, "not_covered_in", name_list(r->stale_in));
    hpmh_json_add(o, "inlined", i);
  }
  hpmh_json_add(o, "carries_inlined", name_list(r->carries));
  cJSON_AddItemToArray(rep.functions, o);
}

void pg_report_written(const char *out) {
  rep.status = 0;
  set("payload", hpmh_json_string(out));
}

/* name to the ", "-separated list (once; the list is cut when full). */
void pg_list_add(char *list, size_t cap, const char *name) {
  size_t n = strlen(name), at = strlen(list);
  for (const char *p = list; (p = strstr(p, name)); p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ',' || !p[n])) return;
  if (at + n + 3 > cap) return;
  snprintf(list + at, cap - at, "%s%s", at ? ", " : "", name);
}
