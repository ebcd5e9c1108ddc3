/* SPDX-License-Identifier: MIT */
/* The systemd units of patched processes: see units.h. */
#include "hotpatch/units.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#include <unistd.h>

bool hp_units_systemd(void) { return sd_booted() > 0; }

int hp_unit_of_pid(pid_t pid, char unit[HP_UNIT_NAME_MAX]) {
  char *u = NULL;
  if (sd_pid_get_unit(pid, &u) < 0 || !u) return -1;
  size_t n = strlen(u);
  int rc = n > 8 && n < HP_UNIT_NAME_MAX && !strcmp(u + n - 8, ".service") ? 0 : -1;
  if (!rc) memcpy(unit, u, n + 1);
  free(u);
  return rc;
}

/* One connection per process (the agent keeps it), opened again after an
 * error: systemd closes its private connections when it re-executes. */
static sd_bus *bus;

static int bus_open(char *err, size_t cap) {
  if (bus) return 0;
  int r;
  if (geteuid() == 0) {
    if ((r = sd_bus_new(&bus)) >= 0 && (r = sd_bus_set_address(bus, "unix:path=/run/systemd/private")) >= 0 &&
        (r = sd_bus_start(bus)) >= 0)
      return 0;
    bus = sd_bus_flush_close_unref(bus);
  }
  if ((r = sd_bus_open_system(&bus)) >= 0) return 0;
  bus = NULL;
  snprintf(err, cap, "cannot reach systemd (/run/systemd/private, the system bus): %s", strerror(-r));
  return -1;
}

static int get_string(const char *path, const char *iface, const char *name, char *out, size_t cap,
                      sd_bus_error *e) {
  char *v = NULL;
  int r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, iface, name, e, &v);
  if (r < 0) return r;
  snprintf(out, cap, "%s", v);
  free(v);
  return 0;
}

static int query_once(const char *unit, hp_unit_state *s, char *err, size_t cap) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = NULL;
  const char *path = NULL;
  char *opath = NULL;
  int r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                             "org.freedesktop.systemd1.Manager", "GetUnit", &e, &reply, "s", unit);
  if (r >= 0) r = sd_bus_message_read(reply, "o", &path);
  if (r >= 0) r = (opath = strdup(path)) ? 0 : -ENOMEM;
  if (r >= 0) r = get_string(opath, "org.freedesktop.systemd1.Unit", "ActiveState", s->active, sizeof s->active, &e);
  if (r >= 0) r = get_string(opath, "org.freedesktop.systemd1.Unit", "SubState", s->sub, sizeof s->sub, &e);
  if (r >= 0) r = get_string(opath, "org.freedesktop.systemd1.Service", "Result", s->result, sizeof s->result, &e);
  if (r >= 0)
    r = sd_bus_get_property_trivial(bus, "org.freedesktop.systemd1", opath, "org.freedesktop.systemd1.Service",
                                    "NRestarts", &e, 'u', &s->nrestarts);
  if (r < 0) snprintf(err, cap, "%s: %s", unit, e.message ? e.message : strerror(-r));
  sd_bus_error_free(&e);
  sd_bus_message_unref(reply);
  free(opath);
  return r;
}

int hp_unit_query(const char *unit, hp_unit_state *s, char *err, size_t cap) {
  memset(s, 0, sizeof *s);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (bus_open(err, cap)) return -1;
    int r = query_once(unit, s, err, cap);
    if (r >= 0) return 0;
    /* a unit systemd does not know is an answer; a broken connection is not */
    if (r != -ENOTCONN && r != -ECONNRESET && r != -EPIPE && r != -ESHUTDOWN) return -1;
    bus = sd_bus_flush_close_unref(bus);
  }
  return -1;
}

int hp_unit_judge(const char *unit, uint32_t restarts_then, const hp_unit_state *s, char *why, size_t cap) {
  if (!strcmp(s->active, "failed")) {
    snprintf(why, cap, "unit %s failed (result %s)", unit, s->result);
    return -1;
  }
  if (s->nrestarts > restarts_then) {
    /* systemd resets Result when the restart's start job runs: once the unit
     * runs again, "success" is the new run's, not the cause of the restart */
    bool cause = strcmp(s->result, "success") != 0;
    snprintf(why, cap, "unit %s was restarted by systemd %u time(s) since the hotpatch reached it%s%s%s", unit,
             s->nrestarts - restarts_then, cause ? " (result " : " (it runs again; journalctl -u names the cause)",
             cause ? s->result : "", cause ? ")" : "");
    return -1;
  }
  if (!strcmp(s->sub, "auto-restart")) {
    snprintf(why, cap, "unit %s is waiting to be restarted by systemd (result %s)", unit, s->result);
    return -1;
  }
  return 0;
}
