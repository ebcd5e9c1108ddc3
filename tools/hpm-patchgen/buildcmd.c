/* SPDX-License-Identifier: MIT */
/*
 * hpm-patchgen diff --build-cmd: the compile database recorded from the
 * baseline's own build command.  The command runs on a copy of the source
 * tree (the engineer's tree and its objects stay as they are) under
 * Debian's bear, which records every compiler call; the paths of the copy
 * are then written back as the tree's, so the result reads exactly like a
 * compile_commands.json of the baseline build.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgdiff.h"

/* Every path under from in the string s (a command may hold several), under to. */
static void map_string(cJSON *s, const char *from, const char *to) {
  for (int i = 0; i < 256 && cJSON_IsString(s); i++) {
    char *m = pg_map_prefix(s->valuestring, from, to);
    int same = !strcmp(m, s->valuestring);
    if (!same) cJSON_SetValuestring(s, m);
    free(m);
    if (same) return;
  }
}

char *pg_record_build(const char *cmd, const char *root, const char *work) {
  char *copy = pg_xprintf("%s/build", work), *raw = pg_xprintf("%s/build-db.json", work),
       *db = pg_xprintf("%s/compile_commands.json", work);
  char *cp[] = {"cp", "-a", "--", (char *)root, copy, NULL};
  if (pg_run(cp, NULL, NULL, NULL)) pg_die("cannot copy %s into %s", root, work);
  char *bear[] = {"bear", "--output", raw, "--", "sh", "-c", (char *)cmd, NULL};
  fprintf(stderr, "%s: recording the build: %s (in a copy of %s)\n", pg_prog, cmd, root);
  int rc = pg_run(bear, copy, "/dev/null", "/dev/null");
  if (rc == 127 && access(raw, F_OK))
    pg_die("--build-cmd: cannot run bear (Debian's bear package records the compiler calls: apt-get install bear), "
           "or give the compile database with --compile-db");
  if (rc) pg_die("--build-cmd '%s' failed (exit %d) in %s, a copy of %s", cmd, rc, copy, root);
  size_t len;
  char *txt = (char *)pg_read_file(raw, &len);
  cJSON *j = cJSON_ParseWithLength(txt, len);
  free(txt);
  if (!cJSON_IsArray(j)) pg_die("%s: bear wrote no compile database", raw);
  if (!cJSON_GetArraySize(j))
    pg_die("--build-cmd '%s' compiled nothing in a copy of %s: give a command that builds every unit from clean "
           "(e.g. 'make clean && make', or 'make -B')", cmd, root);
  cJSON *e;
  cJSON_ArrayForEach(e, j) {
    map_string(cJSON_GetObjectItemCaseSensitive(e, "directory"), copy, root);
    map_string(cJSON_GetObjectItemCaseSensitive(e, "file"), copy, root);
    map_string(cJSON_GetObjectItemCaseSensitive(e, "output"), copy, root);
    map_string(cJSON_GetObjectItemCaseSensitive(e, "command"), copy, root);
    cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(e, "arguments")) map_string(a, copy, root);
  }
  char *out = cJSON_Print(j);
  cJSON_Delete(j);
  if (!out) pg_die("out of memory");
  FILE *f = fopen(db, "w");
  if (!f || fputs(out, f) < 0 || fclose(f)) pg_die("%s: %s", db, strerror(errno));
  free(out);
  char *rm[] = {"rm", "-rf", "--", copy, NULL};
  pg_run(rm, NULL, NULL, NULL);
  fprintf(stderr, "%s: recorded %s\n", pg_prog, db);
  free(copy);
  free(raw);
  return db;
}
