/* SPDX-License-Identifier: MIT */
/*
 * This boot as hpmboot.efi published it (the HpmBoot* variables), the
 * pending OS requests, and the boot part of `hpm status`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/bootvars.h"
#include "boot/efivar.h"
#include "hpm/bootif.h"
#include "boot/internal.h"
#include "fileio.h"
#include "json.h"
#include "jsonout.h"
#include "msg.h"

bool boot_pjoin(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap) { out[0] = 0; return false; }
  return true;
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* ---- reading this boot's variables ---------------------------------------- */

static int read_var_text(const char *name, char *out, size_t cap, bool required, char *why,
                         size_t why_cap) {
  out[0] = 0;
  hpm_efivar_result r = hpm_efivar_read_text(name, HPM_EFIVAR_ATTR_VOLATILE, out, cap);
  if (r == HPM_EFIVAR_OK) return 0;
  if (r == HPM_EFIVAR_ABSENT && !required) return 0;
  char p[512];
  hpm_efivar_path(name, p, sizeof p);
  if (r == HPM_EFIVAR_IO && errno == EPROTO)
    snprintf(why, why_cap, "%s: not a volatile boot-stage variable (attributes other than BS+RT, or binary)", p);
  else if (r == HPM_EFIVAR_IO)
    snprintf(why, why_cap, "%s: %s", p, strerror(errno));
  else
    snprintf(why, why_cap, "%s: %s", p, hpm_efivar_result_to_string(r));
  return r == HPM_EFIVAR_ABSENT ? HPM_BOOT_EXIT_NOT_HPMBOOT : HPM_BOOT_EXIT_IO;
}

int hpm_boot_top_candidate(const hpm_bootstate *st) {
  int best = -1;
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &st->slots[i];
    if (!s->priority || (!s->successful && !s->tries)) continue;
    if (best < 0 || s->priority > st->slots[best].priority) best = (int)i;
  }
  return best;
}

/* The state the next boot starts from: this boot's, with the pending
 * mark-good applied first (as the boot stage does, before a slot request). */
hpm_bootstate boot_next_base(const hpm_boot_info *bi) {
  hpm_bootstate st = bi->st;
  if (bi->markgood_len) {
    hpm_bs_mark m = hpm_bs_apply_mark_good(&st, (const uint8_t *)bi->markgood, bi->markgood_len);
    (void)m; /* malformed or stale: the boot stage ignores it, and so does this */
  }
  return st;
}

static void find_pending_reboot(hpm_boot_info *bi) {
  char a = hpm_bs_slot_letter((unsigned)bi->active);
  hpm_bootstate base = boot_next_base(bi);
  bi->next_slot = hpm_boot_top_candidate(&base);
  if (bi->oneshot >= 0 && bi->oneshot != bi->active) {
    bi->reboot_pending = true;
    bi->next_slot = bi->oneshot;
    snprintf(bi->reboot_why, sizeof bi->reboot_why, "one-shot request for slot %c", hpm_bs_slot_letter((unsigned)bi->oneshot));
    return;
  }
  if (bi->slotreq_present && !bi->slotreq_valid) {
    snprintf(bi->reboot_why, sizeof bi->reboot_why, "HpmSlotRequest is malformed: the next boot discards it");
  } else if (bi->slotreq_present) {
    hpm_bootstate next = base;
    hpm_bs_req_status rs = hpm_bs_apply_request(&next, &bi->slotreq);
    if (rs == HPM_BS_REQ_APPLIED) {
      int top = hpm_boot_top_candidate(&next);
      bi->next_slot = top;
      if (top >= 0 && top != bi->active) {
        bi->reboot_pending = true;
        snprintf(bi->reboot_why, sizeof bi->reboot_why, "slot request: slot %c will be tried first (running: %c)",
                 hpm_bs_slot_letter((unsigned)top), a);
      } else {
        snprintf(bi->reboot_why, sizeof bi->reboot_why, "slot request pending: the running slot %c stays first", a);
      }
      return;
    }
    snprintf(bi->reboot_why, sizeof bi->reboot_why, "HpmSlotRequest is %s: the next boot discards it",
             hpm_bs_req_status_to_string(rs));
  }
  if (bi->next_slot >= 0 && bi->next_slot != bi->active) {
    bi->reboot_pending = true;
    snprintf(bi->reboot_why, sizeof bi->reboot_why, "slot %c outranks the running slot %c",
             hpm_bs_slot_letter((unsigned)bi->next_slot), a);
  }
}

int boot_mark_good_text(const hpm_boot_info *bi, char *out, size_t cap) {
  hpm_text t = hpm_text_start(out, cap);
  hpm_bootif_write_identity(&t, (unsigned)bi->active, bi->baseline);
  return (int)t.len;
}

int hpm_boot_info_read(hpm_boot_info *bi, char *why, size_t why_cap) {
  memset(bi, 0, sizeof *bi);
  bi->active = -1;
  bi->oneshot = -1;
  bi->next_slot = -1;
  why[0] = 0;
  char slot[8], num[32], slots[HPM_EFIVAR_MAX];
  int r = read_var_text(HPM_VAR_BOOT_SLOT, slot, sizeof slot, true, why, why_cap);
  if (r) {
    if (r == HPM_BOOT_EXIT_NOT_HPMBOOT)
      snprintf(why, why_cap, "not booted through hpmboot.efi: no HpmBootSlot variable in %s", hpm_efivar_dir());
    return r;
  }
  bi->active = strlen(slot) == 1 ? hpm_bs_slot_from_letter(slot[0]) : -1;
  if (bi->active < 0) { snprintf(why, why_cap, "HpmBootSlot: '%s' is not a slot letter a-d", slot); return HPM_BOOT_EXIT_IO; }
  if ((r = read_var_text(HPM_VAR_BOOT_BASELINE, bi->baseline_hex, sizeof bi->baseline_hex, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if (hpm_bv_parse_hex32(bi->baseline_hex, bi->baseline)) { snprintf(why, why_cap, "HpmBootBaseline: not 64 lower-case hex digits"); return HPM_BOOT_EXIT_IO; }
  if ((r = read_var_text(HPM_VAR_BOOT_VERSION, bi->version, sizeof bi->version, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if ((r = read_var_text(HPM_VAR_BOOT_REASON, bi->reason, sizeof bi->reason, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if ((r = read_var_text(HPM_VAR_BOOT_REQUEST, bi->request, sizeof bi->request, false, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if ((r = read_var_text(HPM_VAR_BOOT_SECURE_BOOT, bi->secure_boot, sizeof bi->secure_boot, false, why, why_cap)))
    return HPM_BOOT_EXIT_IO;
  if ((r = read_var_text(HPM_VAR_BOOT_TPM, bi->tpm, sizeof bi->tpm, false, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if ((r = read_var_text(HPM_VAR_BOOT_IMAGE, bi->image, sizeof bi->image, false, why, why_cap))) return HPM_BOOT_EXIT_IO;
  struct { const char *name; uint64_t max; uint64_t v; } nums[] = {
      {HPM_VAR_BOOT_SVN, UINT32_MAX, 0}, {HPM_VAR_BOOT_ATTEMPT, UINT32_MAX, 0},
      {HPM_VAR_BOOT_FLOOR, UINT32_MAX, 0}, {HPM_VAR_BOOT_STATE_SEQ, UINT64_MAX, 0}};
  for (unsigned i = 0; i < 4; i++) {
    if ((r = read_var_text(nums[i].name, num, sizeof num, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
    if (hpm_bv_parse_u64(num, nums[i].max, &nums[i].v)) { snprintf(why, why_cap, "%s: '%s' is not a decimal number", nums[i].name, num); return HPM_BOOT_EXIT_IO; }
  }
  bi->svn = (uint32_t)nums[0].v;
  bi->attempt = (uint32_t)nums[1].v;
  bi->st.floor = (uint32_t)nums[2].v;
  bi->st.sequence = nums[3].v;
  bi->st.origin = HPM_BS_ORIGIN_LOADED;
  bi->st.current_copy = 0;
  if ((r = read_var_text(HPM_VAR_BOOT_SLOTS, slots, sizeof slots, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if (hpm_bv_parse_slots(slots, &bi->st, bi->detail_text, why, why_cap)) return HPM_BOOT_EXIT_IO;

  /* Requests the OS wrote this boot (NV+BS+RT). */
  uint8_t buf[HPM_BS_REQ_MAX_SIZE + 1];
  uint32_t attr;
  size_t len;
  if (hpm_efivar_read(HPM_VAR_MARK_GOOD, &attr, (uint8_t *)bi->markgood, sizeof bi->markgood - 1, &len) == HPM_EFIVAR_OK) {
    bi->markgood[len] = 0;
    bi->markgood_present = true;
    bi->markgood_len = len;
    char want[160];
    size_t wl = (size_t)boot_mark_good_text(bi, want, sizeof want);
    bi->markgood_for_running = !strncmp(bi->markgood, want, wl) &&
                               (bi->markgood[wl] == 0 || (bi->markgood[wl] == '\n' && bi->markgood[wl + 1] == 0));
  }
  if (hpm_efivar_read(HPM_VAR_ONESHOT, &attr, buf, sizeof buf, &len) == HPM_EFIVAR_OK)
    bi->oneshot = hpm_bs_parse_oneshot(buf, len);
  hpm_efivar_result sr = hpm_efivar_read(HPM_VAR_SLOT_REQUEST, &attr, buf, sizeof buf, &len);
  if (sr != HPM_EFIVAR_ABSENT) {
    bi->slotreq_present = true;
    bi->slotreq_valid = sr == HPM_EFIVAR_OK && attr == HPM_EFIVAR_ATTR_REQUEST &&
                        hpm_bs_parse_request(buf, len, &bi->slotreq) == HPM_BS_OK;
  }
  find_pending_reboot(bi);
  return 0;
}

/* ---- status ------------------------------------------------------------- */

static const char *slot_state(const hpm_boot_info *bi, unsigned i, const char *esp) {
  const hpm_bs_slot *s = &bi->st.slots[i];
  if (s->successful) return "good";
  if (s->reason != HPM_BS_REASON_NONE) return "refused";
  /* no container on the ESP (and none the boot stage ever verified): an
   * empty slot, whatever tries and priority its record holds */
  if (all_zero(s->digest, HPM_DIGEST_LEN) && (int)i != bi->active) {
    char p[1400];
    snprintf(p, sizeof p, "%s/EFI/hpm/slot-%c.hpm", esp, hpm_bs_slot_letter(i));
    if (access(p, F_OK)) return "empty";
  }
  if (!s->priority) return "disabled";
  if (s->tries) return "on trial";
  return "no tries left";
}

/* The version of the baseline a slot holds: from its container on the ESP
 * (header and manifest, not verified: for display) when that is the
 * baseline the slot table records; "" otherwise. */
static void slot_version(const char *esp, const hpm_boot_info *bi, unsigned i, char *out, size_t cap) {
  out[0] = 0;
  const hpm_bs_slot *s = &bi->st.slots[i];
  if ((int)i == bi->active) {
    snprintf(out, cap, "%s", bi->version);
    return;
  }
  if (all_zero(s->digest, HPM_DIGEST_LEN)) return;
  char p[1400], nm[16];
  snprintf(nm, sizeof nm, "slot-%c.hpm", hpm_bs_slot_letter(i));
  snprintf(p, sizeof p, "%s/EFI/hpm/%s", esp, nm);
  uint8_t *b = NULL;
  size_t n = 0;
  hpmh_status e;
  if (hpmh_read_file(p, 64u * 1024 * 1024, &b, &n, &e)) return;
  static hpm_manifest m;
  if (hpm_container_parse_unverified(b, n, &m, NULL) == HPM_OK && !memcmp(m.digest, s->digest, HPM_DIGEST_LEN))
    snprintf(out, cap, "%s", m.version);
  free(b);
}

/* A development image, or one this hpm does not know: both warn. */
static bool boot_is_development(const hpm_boot_info *bi) {
  return bi->image[0] && strcmp(bi->image, HPM_BOOT_IMAGE_RELEASE) != 0;
}

cJSON *hpm_boot_status_json(const char *esp) {
  hpm_boot_info bi;
  char why[600];
  cJSON *o = cJSON_CreateObject();
  if (hpm_boot_info_read(&bi, why, sizeof why)) {
    hpmh_json_add_bool(o, "booted", 0);
    hpmh_json_add_str(o, "error", why);
    hpmh_json_add(o, "setup", hpm_boot_setup_json(esp));
    return o;
  }
  const hpm_bs_slot *as = &bi.st.slots[bi.active];
  char l[2] = {hpm_bs_slot_letter((unsigned)bi.active), 0};
  hpmh_json_add_bool(o, "booted", 1);
  hpmh_json_add_str(o, "slot", l);
  hpmh_json_add_str(o, "baseline", bi.baseline_hex);
  hpmh_json_add_str(o, "version", bi.version);
  hpmh_json_add_u64(o, "svn", bi.svn);
  hpmh_json_add_u64(o, "attempt", bi.attempt);
  hpmh_json_add_bool(o, "marked_good", as->successful);
  hpmh_json_add_str(o, "reason", bi.reason);
  hpmh_json_add_u64(o, "floor", bi.st.floor);
  hpmh_json_add_u64(o, "state_sequence", bi.st.sequence);
  hpm_json_add_opt(o, "secure_boot", bi.secure_boot);
  hpm_json_add_opt(o, "tpm", bi.tpm);
  hpm_json_add_opt(o, "image", bi.image);
  hpmh_json_add_bool(o, "development_image", boot_is_development(&bi));
  hpm_json_add_opt(o, "request", bi.request);
  cJSON *pe = cJSON_AddObjectToObject(o, "pending");
  hpmh_json_add_bool(pe, "mark_good", bi.markgood_present);
  char one[2] = {bi.oneshot >= 0 ? hpm_bs_slot_letter((unsigned)bi.oneshot) : 0, 0};
  hpm_json_add_opt(pe, "one_shot", one);
  hpmh_json_add_bool(pe, "slot_request", bi.slotreq_present);
  hpmh_json_add_bool(o, "reboot_pending", bi.reboot_pending);
  char next[2] = {bi.next_slot >= 0 ? hpm_bs_slot_letter((unsigned)bi.next_slot) : 0, 0};
  hpm_json_add_opt(o, "next_slot", next);
  /* why a reboot is pending; null when none is */
  hpm_json_add_opt(o, "reboot_reason", bi.reboot_why); /* null: nothing to say */
  cJSON *sa = cJSON_AddArrayToObject(o, "slots");
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &bi.st.slots[i];
    cJSON *x = hpmh_json_add(sa, NULL, cJSON_CreateObject());
    char sl[2] = {hpm_bs_slot_letter(i), 0}, ver[HPM_VERSION_MAX + 1];
    hpmh_json_add_str(x, "slot", sl);
    hpmh_json_add_bool(x, "active", (int)i == bi.active);
    hpmh_json_add_str(x, "state", slot_state(&bi, i, esp));
    hpmh_json_add_u64(x, "priority", s->priority);
    hpmh_json_add_u64(x, "tries", s->tries);
    hpmh_json_add_bool(x, "successful", s->successful);
    hpmh_json_add_u64(x, "svn", s->svn);
    hpmh_json_add_str(x, "reason", hpm_bs_reason_to_string(s->reason));
    hpm_json_add_opt(x, "detail", bi.detail_text[i]);
    if (all_zero(s->digest, HPM_DIGEST_LEN)) hpmh_json_add_null(x, "baseline");
    else hpmh_json_add_hex(x, "baseline", s->digest, HPM_DIGEST_LEN);
    slot_version(esp, &bi, i, ver, sizeof ver);
    hpm_json_add_opt(x, "version", ver);
  }
  return o;
}

void hpm_boot_status_print(FILE *out, const char *esp) {
  hpm_boot_info bi;
  char why[600];
  if (hpm_boot_info_read(&bi, why, sizeof why)) {
    fprintf(out, "boot: %s\n", why);
    hpm_boot_setup_print(out, esp);
    return;
  }
  char a = hpm_bs_slot_letter((unsigned)bi.active);
  const hpm_bs_slot *as = &bi.st.slots[bi.active];
  if (boot_is_development(&bi))
    fprintf(out, "WARNING: DEVELOPMENT BOOT IMAGE: this boot's hpmboot.efi (hpmboot-dev.efi of plain `make`)\n"
                 "WARNING: trusts the throwaway key of a build tree: not for production; install a release\n"
                 "WARNING: image built with `make hpmboot-release HPM_TRUST_KEYS=...` (docs/operations.md)\n\n");
  /* bootctl-like: right-aligned keys, then the slot table */
  fprintf(out, "Boot stage (hpmboot.efi):\n");
  fprintf(out, "     Booted slot: %c\n", a);
  fprintf(out, "        Baseline: %s (svn %u)\n", bi.version, bi.svn);
  fprintf(out, "          Digest: %s\n", bi.baseline_hex);
  fprintf(out, "          Reason: %s\n", bi.reason);
  if (as->successful)
    fprintf(out, "          Health: marked good\n");
  else
    fprintf(out, "          Health: on trial, attempt %u, %u tries left%s\n", bi.attempt, as->tries,
            bi.markgood_for_running ? " (mark-good requested: recorded at the next boot)"
                                    : " (run `hpm mark-good` once healthy)");
  fprintf(out, "  Rollback floor: svn %u\n", bi.st.floor);
  fprintf(out, "     Secure Boot: %s\n", bi.secure_boot[0] ? bi.secure_boot : "(not published)");
  fprintf(out, "             TPM: %s\n", bi.tpm[0] ? bi.tpm : "(not published)");
  fprintf(out, "      Boot image: %s\n", boot_is_development(&bi) ? "DEVELOPMENT (not for production)"
                                         : bi.image[0]               ? bi.image
                                                                     : "(not published)");
  fprintf(out, "  State sequence: %llu\n", (unsigned long long)bi.st.sequence);
  if (bi.request[0]) fprintf(out, "    Last request: %s\n", bi.request);
  fprintf(out, "  Reboot pending: %s%s\n", bi.reboot_pending ? "yes: " : "", bi.reboot_why[0] ? bi.reboot_why : "no");
  if (bi.markgood_present && !bi.markgood_for_running)
    fprintf(out, "         Warning: HpmMarkGood names another slot or baseline (%.100s): the next boot ignores it\n",
            bi.markgood);
  fprintf(out, "\nSlots:\n");
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &bi.st.slots[i];
    char hx[2 * HPM_DIGEST_LEN + 1];
    hpm_fmt_hex(s->digest, HPM_DIGEST_LEN, hx, sizeof hx);
    char ver[HPM_VERSION_MAX + 1];
    slot_version(esp, &bi, i, ver, sizeof ver);
    fprintf(out, "  %s %c  priority %2u  tries %2u  %-13s svn %-5u %s%s%s%s", (int)i == bi.active ? "*" : " ",
            hpm_bs_slot_letter(i), s->priority, s->tries, slot_state(&bi, i, esp), s->svn,
            ver[0] ? ver : "", ver[0] ? " (" : "", all_zero(s->digest, HPM_DIGEST_LEN) ? "(no baseline)" : hx,
            ver[0] ? ")" : "");
    if (s->reason != HPM_BS_REASON_NONE)
      fprintf(out, "\n       last refusal: %s%s%s", hpm_bs_reason_to_string(s->reason), bi.detail_text[i][0] ? ": " : "",
              bi.detail_text[i]);
    fputc('\n', out);
  }
}
