/* SPDX-License-Identifier: MIT */
/* The decision engine (decide.h). */
#include "update/decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "update/windows.h"

static bool newer(const hpm_catalog_entry *a, const hpm_catalog_entry *b) {
  if (a->release_time != b->release_time) return a->release_time > b->release_time;
  return a->svn > b->svn;
}

static bool listed(const char *id, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (list[i] && !strcmp(list[i], id)) return true;
  return false;
}

static void add_reason(decide_item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_reason(decide_item *it, const char *fmt, ...) {
  size_t n = strlen(it->reason);
  if (n + 3 >= sizeof it->reason) return;
  if (n) {
    memcpy(it->reason + n, "; ", 3);
    n += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(it->reason + n, sizeof it->reason - n, fmt, ap);
  va_end(ap);
}

static void select_item(decide_item *it, const hpm_policy *pol, const decide_request *req) {
  const char *id = it->entry->id;
  unsigned classes = req && req->classes ? req->classes : pol->auto_classes;
  it->excluded = req && listed(id, req->exclude, req->nexclude);
  if (req && req->ninclude) it->selected = !it->excluded && listed(id, req->include, req->ninclude);
  else it->selected = !it->excluded && (classes & POLICY_CLASS_BIT(it->entry->classification));
}

static void fill_hotpatch(decide_item *it, const hpm_policy *pol, const decide_request *req, uint64_t now,
                          const win_status *ws, int mode) {
  bool demand = req && req->on_demand;
  const char *cls = hpm_classification_to_string(it->entry->classification);
  it->required = true;
  add_reason(it, "hotpatch %u for the running baseline (%s)", it->entry->sequence, cls);
  if (it->excluded) { add_reason(it, "excluded by --exclude"); return; }
  if (it->bad) {
    add_reason(it, "marked bad on this host (reverted for its health, see hpm status): not installed until a newer "
                   "sequence arrives; hpm apply --force applies it anyway");
    return;
  }
  if (!it->selected) {
    if (demand) add_reason(it, "not selected by --classification/--include");
    else add_reason(it, "listed only: classification %s is not in auto_classifications; install it with hpm install --include %s", cls, it->entry->id);
    return;
  }
  if (demand) {
    it->install_now = true;
    add_reason(it, "installing on demand");
  } else if (ws->blackout) {
    add_reason(it, "waiting: blackout \"%s\"", ws->blackout->name);
  } else if (pol->hotpatch_outside_windows) {
    it->install_now = true;
    add_reason(it, "installs now (hotpatches need no reboot; hotpatch_outside_windows=yes)");
  } else if (ws->open) {
    it->install_now = true;
    add_reason(it, "installs now: window \"%s\" is open", ws->window->name);
  } else if (it->overdue) {
    it->install_now = true;
    add_reason(it, "past its deadline: installs now although no window is open");
  } else {
    add_reason(it, "waits for a window (hotpatch_outside_windows=no)");
  }
  if (mode == REBOOT_ALWAYS && it->install_now) {
    /* Not needed by a hotpatch, asked for by the operator: on demand at
     * once, otherwise only inside a window. */
    it->needs_reboot = true;
    if (demand || (ws->open && !ws->blackout)) {
      it->reboot_now = true;
      it->reboot_at_valid = true;
      it->reboot_at = now;
      add_reason(it, "reboot=always: reboot now");
    } else if (ws->next_valid) {
      it->reboot_at_valid = true;
      it->reboot_at = ws->next_open;
      add_reason(it, "reboot=always: reboot in the next window");
    } else {
      add_reason(it, "reboot=always: no window configured; reboot the host yourself");
    }
  }
}

static void fill_baseline(decide_item *it, const hpm_policy *pol, const decide_request *req, uint64_t now,
                          const win_status *ws, const decide_host *host, const char *why_required) {
  bool demand = req && req->on_demand;
  const char *cls = hpm_classification_to_string(it->entry->classification);
  add_reason(it, "%s baseline %s (%s)", hpm_release_to_string(it->entry->release), it->entry->version, cls);
  if (it->required) add_reason(it, "required: %s", why_required);
  else add_reason(it, "optional: hotpatches for the running baseline continue");
  it->needs_reboot = true;
  it->already_staged = host->has_staged && !memcmp(host->staged, it->entry->digest, HPM_DIGEST_LEN);
  if (it->excluded) { add_reason(it, "excluded by --exclude"); return; }
  bool named = req && req->ninclude && it->selected;
  bool go = it->selected && (it->required || named);
  if (!go) {
    if (!it->selected && !demand)
      add_reason(it, "listed only: classification %s is not in auto_classifications; install it with hpm install --include %s", cls, it->entry->id);
    else if (!it->selected)
      add_reason(it, "not selected by --classification/--include");
    else
      add_reason(it, "listed only; install it with hpm install --include %s", it->entry->id);
    return;
  }
  if (it->already_staged) add_reason(it, "staged; waiting for the reboot");
  else {
    it->install_now = true;
    add_reason(it, demand ? "staging on demand" : "staging now (staging needs no window)");
  }
  int mode = req && req->reboot >= 0 ? req->reboot : (int)pol->reboot;
  if (mode == REBOOT_NEVER) {
    add_reason(it, "reboot=never: reboot the host yourself to activate it");
    return;
  }
  if (demand) {
    it->reboot_now = true;
    it->reboot_at_valid = true;
    it->reboot_at = now;
    add_reason(it, "reboot now (on demand, reboot=%s)", policy_reboot_to_string((policy_reboot)mode));
    return;
  }
  char when[64];
  if (pol->nwindows) {
    if (ws->open) {
      it->reboot_now = true;
      it->reboot_at_valid = true;
      it->reboot_at = now;
      add_reason(it, "reboot now: window \"%s\" is open", ws->window->name);
    } else if (ws->next_valid) {
      it->reboot_at_valid = true;
      it->reboot_at = ws->next_open;
      win_format_local(pol, ws->next_open, when, sizeof when);
      add_reason(it, "reboot in window \"%s\" at %s", ws->next_window ? ws->next_window->name : "?", when);
    } else {
      add_reason(it, "no window opens within %d days: reboot the host yourself", WIN_HORIZON_DAYS);
    }
    if (it->overdue) add_reason(it, "overdue: past its deadline; windows still apply");
    return;
  }
  /* No windows configured: reboot once the deadline has passed. */
  if (!it->overdue) {
    it->reboot_at_valid = true;
    it->reboot_at = it->deadline;
    win_format_local(pol, it->deadline, when, sizeof when);
    add_reason(it, "no maintenance window configured: reboot at the deadline, %s, or earlier yourself", when);
  } else if (ws->blackout) {
    it->reboot_at_valid = true;
    it->reboot_at = ws->blackout_until;
    add_reason(it, "past its deadline; waiting for blackout \"%s\" to end", ws->blackout->name);
  } else {
    it->reboot_now = true;
    it->reboot_at_valid = true;
    it->reboot_at = now;
    add_reason(it, "past its deadline and no maintenance window configured: reboot now");
  }
}

void decide(const hpm_catalog *cat, const decide_host *host, const hpm_policy *pol, const decide_request *req,
            uint64_t now, decide_result *out) {
  memset(out, 0, sizeof *out);
  const hpm_catalog_entry *running = NULL;
  for (size_t i = 0; i < cat->count; i++) {
    const hpm_catalog_entry *e = &cat->entries[i];
    if (e->kind == HPM_KIND_BASELINE && !memcmp(e->digest, host->baseline, HPM_DIGEST_LEN)) running = e;
  }
  out->baseline_listed = running != NULL;

  /* Newest hotpatch for the running baseline; newer baselines. */
  const hpm_catalog_entry *hp = NULL, *newest = NULL, *first_planned = NULL;
  bool unplanned = false;
  for (size_t i = 0; i < cat->count; i++) {
    const hpm_catalog_entry *e = &cat->entries[i];
    if (e->release_time > now) continue;
    if (e->kind == HPM_KIND_HOTPATCH && !memcmp(e->target_baseline, host->baseline, HPM_DIGEST_LEN)) {
      if (!hp || e->sequence > hp->sequence) hp = e;
    } else if (e->kind == HPM_KIND_BASELINE && e != running && (!running || newer(e, running))) {
      if (!newest || newer(e, newest)) newest = e;
      if (e->release == HPM_RELEASE_UNPLANNED) unplanned = true;
      if (e->release == HPM_RELEASE_PLANNED && (!first_planned || newer(first_planned, e))) first_planned = e;
    }
  }
  bool chain_ended = false;
  if (first_planned) {
    chain_ended = true;
    for (size_t i = 0; i < cat->count; i++) {
      const hpm_catalog_entry *e = &cat->entries[i];
      if (e->kind == HPM_KIND_HOTPATCH && e->release_time <= now && e->release_time >= first_planned->release_time &&
          !memcmp(e->target_baseline, host->baseline, HPM_DIGEST_LEN))
        chain_ended = false;
    }
  }

  win_status ws;
  win_status_at(pol, now, &ws);
  int mode = req && req->reboot >= 0 ? req->reboot : (int)pol->reboot;

  if (host->enrolled && hp && hp->sequence > host->hotpatch_seq) {
    decide_item *it = &out->items[out->count++];
    it->entry = hp;
    it->deadline = hp->release_time + (uint64_t)pol->deadline_days * 86400u;
    it->overdue = now >= it->deadline;
    for (size_t k = 0; k < host->nbad && k < sizeof host->bad / sizeof host->bad[0]; k++)
      it->bad |= host->bad[k] == hp->sequence;
    select_item(it, pol, req);
    fill_hotpatch(it, pol, req, now, &ws, mode);
  }
  if (newest) {
    decide_item *it = &out->items[out->count++];
    it->entry = newest;
    it->deadline = newest->release_time + (uint64_t)pol->deadline_days * 86400u;
    it->overdue = now >= it->deadline;
    const char *why = NULL;
    if (!running) why = "the running baseline is not listed in the catalog";
    else if (!host->enrolled) why = "this host is not enrolled for hotpatches: it takes every baseline";
    else if (unplanned) why = "an unplanned baseline was published";
    else if (chain_ended) why = "the hotpatch chain of the running baseline has ended";
    it->required = why != NULL;
    select_item(it, pol, req);
    fill_baseline(it, pol, req, now, &ws, host, why ? why : "");
    if (!host->enrolled && host->has_unenrolled_at && memcmp(newest->digest, host->unenrolled_at, HPM_DIGEST_LEN))
      add_reason(it, "once it runs, hpm enroll can take hotpatches again");
  }
}
