/* SPDX-License-Identifier: MIT */
/*
 * The boot side of hpm from the OS: status, mark-good, stage, rollback.
 * See boot.h for the contract and exit codes, docs/boot-interface.md for
 * the variables and records, docs/operations.md for the operator's view.
 */
#include "boot/boot.h"
#include "json.h"
#include "msg.h"
#include "trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/bootvars.h"
#include "boot/efivar.h"
#include "hpm/core.h"
#include "fileio.h"
#include "keys.h"

#define CONTAINER_MAX (64u * 1024 * 1024) /* a baseline container without detached payloads */
#define MAX_KEYS 64



/* dir/name into out; false (and an empty string) when it does not fit. */
static bool pjoin(char *out, size_t cap, const char *dir, const char *name) {
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
static hpm_bootstate next_boot_base(const hpm_boot_info *bi) {
  hpm_bootstate st = bi->st;
  if (bi->markgood_len) {
    hpm_bs_mark m = hpm_bs_apply_mark_good(&st, (const uint8_t *)bi->markgood, bi->markgood_len);
    (void)m; /* malformed or stale: the boot stage ignores it, and so does this */
  }
  return st;
}

static void find_pending_reboot(hpm_boot_info *bi) {
  char a = hpm_bs_slot_letter((unsigned)bi->active);
  hpm_bootstate base = next_boot_base(bi);
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
  } else if (!bi->reboot_why[0]) {
    snprintf(bi->reboot_why, sizeof bi->reboot_why, "no");
  }
}

/* The HpmMarkGood text for the running slot and baseline
 * (docs/boot-interface.md): its length, as snprintf returns it. */
static int mark_good_text(const hpm_boot_info *bi, char *out, size_t cap) {
  return snprintf(out, cap, "hpm.slot=%c hpm.baseline=%s", hpm_bs_slot_letter((unsigned)bi->active),
                  bi->baseline_hex);
}

int hpm_boot_info_read(hpm_boot_info *bi, char *why, size_t why_cap) {
  memset(bi, 0, sizeof *bi);
  bi->active = -1;
  bi->oneshot = -1;
  bi->next_slot = -1;
  why[0] = 0;
  char slot[8], num[32], slots[HPM_EFIVAR_MAX];
  int r = read_var_text("HpmBootSlot", slot, sizeof slot, true, why, why_cap);
  if (r) {
    if (r == HPM_BOOT_EXIT_NOT_HPMBOOT)
      snprintf(why, why_cap, "not booted through hpmboot.efi: no HpmBootSlot variable in %s", hpm_efivar_dir());
    return r;
  }
  bi->active = strlen(slot) == 1 ? hpm_bs_slot_from_letter(slot[0]) : -1;
  if (bi->active < 0) { snprintf(why, why_cap, "HpmBootSlot: '%s' is not a slot letter a-d", slot); return HPM_BOOT_EXIT_IO; }
  if ((r = read_var_text("HpmBootBaseline", bi->baseline_hex, sizeof bi->baseline_hex, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if (hpm_bv_parse_hex32(bi->baseline_hex, bi->baseline)) { snprintf(why, why_cap, "HpmBootBaseline: not 64 lower-case hex digits"); return HPM_BOOT_EXIT_IO; }
  if ((r = read_var_text("HpmBootVersion", bi->version, sizeof bi->version, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if ((r = read_var_text("HpmBootReason", bi->reason, sizeof bi->reason, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if ((r = read_var_text("HpmBootRequest", bi->request, sizeof bi->request, false, why, why_cap))) return HPM_BOOT_EXIT_IO;
  struct { const char *name; uint64_t max; uint64_t v; } nums[] = {
      {"HpmBootSvn", UINT32_MAX, 0}, {"HpmBootAttempt", UINT32_MAX, 0},
      {"HpmBootFloor", UINT32_MAX, 0}, {"HpmBootStateSeq", UINT64_MAX, 0}};
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
  if ((r = read_var_text("HpmBootSlots", slots, sizeof slots, true, why, why_cap))) return HPM_BOOT_EXIT_IO;
  if (hpm_bv_parse_slots(slots, &bi->st, bi->detail_text, why, why_cap)) return HPM_BOOT_EXIT_IO;

  /* Requests the OS wrote this boot (NV+BS+RT). */
  uint8_t buf[HPM_BS_REQ_MAX_SIZE + 1];
  uint32_t attr;
  size_t len;
  if (hpm_efivar_read("HpmMarkGood", &attr, (uint8_t *)bi->markgood, sizeof bi->markgood - 1, &len) == HPM_EFIVAR_OK) {
    bi->markgood[len] = 0;
    bi->markgood_present = true;
    bi->markgood_len = len;
    char want[160];
    size_t wl = (size_t)mark_good_text(bi, want, sizeof want);
    bi->markgood_for_running = !strncmp(bi->markgood, want, wl) &&
                               (bi->markgood[wl] == 0 || (bi->markgood[wl] == '\n' && bi->markgood[wl + 1] == 0));
  }
  if (hpm_efivar_read("HpmOneShot", &attr, buf, sizeof buf, &len) == HPM_EFIVAR_OK)
    bi->oneshot = hpm_bs_parse_oneshot(buf, len);
  hpm_efivar_result sr = hpm_efivar_read("HpmSlotRequest", &attr, buf, sizeof buf, &len);
  if (sr != HPM_EFIVAR_ABSENT) {
    bi->slotreq_present = true;
    bi->slotreq_valid = sr == HPM_EFIVAR_OK && attr == HPM_EFIVAR_ATTR_REQUEST &&
                        hpm_bs_parse_request(buf, len, &bi->slotreq) == HPM_BS_OK;
  }
  find_pending_reboot(bi);
  return 0;
}

/* ---- status ------------------------------------------------------------- */

static const char *slot_state(const hpm_boot_info *bi, unsigned i) {
  const hpm_bs_slot *s = &bi->st.slots[i];
  if (s->successful) return "good";
  if (s->reason != HPM_BS_REASON_NONE) return "refused";
  if (!s->priority) return "disabled";
  if (s->tries) return "on trial";
  return all_zero(s->digest, HPM_DIGEST_LEN) ? "empty" : "no tries left";
}

void hpm_boot_status_print(FILE *out, bool json) {
  hpm_boot_info bi;
  char why[600];
  int r = hpm_boot_info_read(&bi, why, sizeof why);
  if (r) {
    if (json) {
      fprintf(out, "{\"booted\":false,\"error\":");
      hpmh_json_str(out, why);
      fputc('}', out);
    } else {
      fprintf(out, "boot: %s\n", why);
    }
    return;
  }
  char a = hpm_bs_slot_letter((unsigned)bi.active);
  const hpm_bs_slot *as = &bi.st.slots[bi.active];
  if (json) {
    fprintf(out, "{\"booted\":true,\"slot\":\"%c\",\"baseline\":\"%s\",\"version\":", a, bi.baseline_hex);
    hpmh_json_str(out, bi.version);
    fprintf(out, ",\"svn\":%u,\"attempt\":%u,\"marked_good\":%s,\"reason\":", bi.svn, bi.attempt,
            as->successful ? "true" : "false");
    hpmh_json_str(out, bi.reason);
    fprintf(out, ",\"floor\":%u,\"state_sequence\":%llu,\"request\":", bi.st.floor,
            (unsigned long long)bi.st.sequence);
    if (bi.request[0]) hpmh_json_str(out, bi.request);
    else fputs("null", out);
    fprintf(out, ",\"pending\":{\"mark_good\":%s,\"one_shot\":", bi.markgood_present ? "true" : "false");
    if (bi.oneshot >= 0) fprintf(out, "\"%c\"", hpm_bs_slot_letter((unsigned)bi.oneshot));
    else fputs("null", out);
    fprintf(out, ",\"slot_request\":%s},\"reboot_pending\":%s,\"next_slot\":",
            bi.slotreq_present ? "true" : "false", bi.reboot_pending ? "true" : "false");
    if (bi.next_slot >= 0) fprintf(out, "\"%c\"", hpm_bs_slot_letter((unsigned)bi.next_slot));
    else fputs("null", out);
    fputs(",\"reboot_reason\":", out);
    hpmh_json_str(out, bi.reboot_why);
    fputs(",\"slots\":[", out);
    for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
      const hpm_bs_slot *s = &bi.st.slots[i];
      char hx[2 * HPM_DIGEST_LEN + 1];
      hpm_fmt_hex(s->digest, HPM_DIGEST_LEN, hx, sizeof hx);
      fprintf(out, "%s{\"slot\":\"%c\",\"active\":%s,\"state\":\"%s\",\"priority\":%u,\"tries\":%u,"
              "\"successful\":%s,\"svn\":%u,\"reason\":\"%s\",\"detail\":",
              i ? "," : "", hpm_bs_slot_letter(i), (int)i == bi.active ? "true" : "false", slot_state(&bi, i),
              s->priority, s->tries, s->successful ? "true" : "false", s->svn, hpm_bs_reason_to_string(s->reason));
      if (bi.detail_text[i][0]) hpmh_json_str(out, bi.detail_text[i]);
      else fputs("null", out);
      fputs(",\"baseline\":", out);
      if (all_zero(s->digest, HPM_DIGEST_LEN)) fputs("null", out);
      else fprintf(out, "\"%s\"", hx);
      fputc('}', out);
    }
    fputs("]}", out);
    return;
  }
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
  fprintf(out, "  State sequence: %llu\n", (unsigned long long)bi.st.sequence);
  if (bi.request[0]) fprintf(out, "    Last request: %s\n", bi.request);
  fprintf(out, "  Reboot pending: %s%s\n", bi.reboot_pending ? "yes: " : "", bi.reboot_why);
  if (bi.markgood_present && !bi.markgood_for_running)
    fprintf(out, "         Warning: HpmMarkGood names another slot or baseline (%.100s): the next boot ignores it\n",
            bi.markgood);
  fprintf(out, "\nSlots:\n");
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &bi.st.slots[i];
    char hx[2 * HPM_DIGEST_LEN + 1];
    hpm_fmt_hex(s->digest, HPM_DIGEST_LEN, hx, sizeof hx);
    fprintf(out, "  %s %c  priority %2u  tries %2u  %-13s svn %-5u %s", (int)i == bi.active ? "*" : " ",
            hpm_bs_slot_letter(i), s->priority, s->tries, slot_state(&bi, i), s->svn,
            all_zero(s->digest, HPM_DIGEST_LEN) ? "(no baseline)" : hx);
    if (s->reason != HPM_BS_REASON_NONE)
      fprintf(out, "\n       last refusal: %s%s%s", hpm_bs_reason_to_string(s->reason), bi.detail_text[i][0] ? ": " : "",
              bi.detail_text[i]);
    fputc('\n', out);
  }
}

/* ---- option parsing shared by the commands ------------------------------ */

typedef struct {
  bool json, force;
  unsigned tries;
  int slot;
  const char *trust_dir;
  const char *esp;
  const char *file;
} boot_opts;

static int parse_opts(int argc, char **argv, const char *usage, bool takes_file, boot_opts *o) {
  static const struct option lo[] = {{"json", 0, 0, 'j'},      {"help", 0, 0, 'h'}, {"tries", 1, 0, 't'},
                                     {"trust-dir", 1, 0, 'T'}, {"esp", 1, 0, 'E'},  {"slot", 1, 0, 's'},
                                     {"force", 0, 0, 'f'},     {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->tries = HPM_BS_DEFAULT_TRIES;
  o->slot = -1;
  o->trust_dir = getenv("HPM_TRUST_DIR") ? getenv("HPM_TRUST_DIR") : "/etc/hpm/trust";
  o->esp = getenv("HPM_ESP") && *getenv("HPM_ESP") ? getenv("HPM_ESP") : "/boot/efi";
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    uint64_t v;
    switch (c) {
    case 'j': o->json = true; break;
    case 'f': o->force = true; break;
    case 'h': fputs(usage, stdout); exit(0);
    case 'T': o->trust_dir = optarg; break;
    case 'E': o->esp = optarg; break;
    case 't':
      if (hpm_bv_parse_u64(optarg, HPM_BS_TRIES_MAX, &v) || v == 0) {
        msg("%s: --tries '%s': expected 1..%u", argv[0], optarg, HPM_BS_TRIES_MAX);
        return HPM_BOOT_EXIT_USAGE;
      }
      o->tries = (unsigned)v;
      break;
    case 's':
      o->slot = strlen(optarg) == 1 ? hpm_bs_slot_from_letter(optarg[0]) : -1;
      if (o->slot < 0) { msg("%s: --slot '%s': expected a slot letter a-d", argv[0], optarg); return HPM_BOOT_EXIT_USAGE; }
      break;
    default: fprintf(stderr, "%s", usage); return HPM_BOOT_EXIT_USAGE;
    }
  }
  if (takes_file) {
    if (optind != argc - 1) { fputs(usage, stderr); return HPM_BOOT_EXIT_USAGE; }
    o->file = argv[optind];
  } else if (optind != argc) {
    fputs(usage, stderr);
    return HPM_BOOT_EXIT_USAGE;
  }
  return 0;
}

static int need_boot_info(hpm_boot_info *bi) {
  char why[600];
  int r = hpm_boot_info_read(bi, why, sizeof why);
  if (r) msg("%s", why);
  return r;
}

/* Check with core that the next boot would apply the request and try its
 * slot first (this boot's state, the pending mark-good applied first). */
static int check_slot_request(const hpm_boot_info *bi, const hpm_bs_request *req) {
  hpm_bootstate next = next_boot_base(bi);
  hpm_bs_req_status rs = hpm_bs_apply_request(&next, req);
  if (rs != HPM_BS_REQ_APPLIED) {
    msg("the slot request would be %s by the boot stage: not written", hpm_bs_req_status_to_string(rs));
    return HPM_BOOT_EXIT_REFUSED;
  }
  if (hpm_boot_top_candidate(&next) != req->entries[0].slot) {
    msg("internal error: the slot request would not put slot %c first", hpm_bs_slot_letter(req->entries[0].slot));
    return HPM_BOOT_EXIT_IO;
  }
  return 0;
}

/* Write a slot request (core serializes it) made for this boot's state. */
static int write_slot_request(const hpm_boot_info *bi, const hpm_bs_request *req) {
  uint8_t rec[HPM_BS_REQ_MAX_SIZE];
  size_t n = hpm_bs_serialize_request(req, rec);
  if (!n) { msg("internal error: slot request does not serialize"); return HPM_BOOT_EXIT_IO; }
  if (bi->slotreq_present)
    msg("note: replacing the slot request already pending (one request variable; the new one wins)");
  if (hpm_efivar_write("HpmSlotRequest", HPM_EFIVAR_ATTR_REQUEST, rec, n)) {
    char p[512];
    hpm_efivar_path("HpmSlotRequest", p, sizeof p);
    msg("%s: cannot write: %s", p, strerror(errno));
    return HPM_BOOT_EXIT_IO;
  }
  return 0;
}

/* ---- mark-good ---------------------------------------------------------- */

static const char mark_good_usage[] =
    "usage: hpm mark-good [--json]\n"
    "  Mark the running baseline good (HpmMarkGood for this slot and baseline).\n"
    "  hpmboot.efi records it at the next boot: the slot stops counting tries\n"
    "  and the rollback floor rises to its SVN.  Run by hpm-mark-good.service\n"
    "  once boot-complete.target is reached and the health checks passed.\n"
    "exit: 0 requested, 3 variable not writable, 5 not booted through hpmboot.efi,\n"
    "  6 already marked good or already requested (nothing to do)\n";

int hpm_boot_cmd_mark_good(int argc, char **argv) {
  boot_opts o;
  int r = parse_opts(argc, argv, mark_good_usage, false, &o);
  if (r) return r;
  hpm_boot_info bi;
  if ((r = need_boot_info(&bi))) return r;
  char a = hpm_bs_slot_letter((unsigned)bi.active);
  const hpm_bs_slot *s = &bi.st.slots[bi.active];
  const char *state = NULL;
  if (s->successful && bi.attempt == 0) state = "already marked good";
  else if (bi.markgood_for_running) state = "already requested (recorded at the next boot)";
  if (state) {
    if (o.json) printf("{\"slot\":\"%c\",\"baseline\":\"%s\",\"result\":\"already\"}\n", a, bi.baseline_hex);
    msg("slot %c, baseline %s (svn %u): %s: nothing to do", a, bi.version, bi.svn, state);
    return HPM_BOOT_EXIT_ALREADY;
  }
  char text[160];
  int n = mark_good_text(&bi, text, sizeof text);
  /* What the boot stage will do with it, by core's own parser. */
  hpm_bootstate probe = bi.st;
  probe.slots[bi.active].successful = false;
  memcpy(probe.slots[bi.active].digest, bi.baseline, HPM_DIGEST_LEN);
  if (hpm_bs_apply_mark_good(&probe, (const uint8_t *)text, (size_t)n) != HPM_BS_MARK_APPLIED) {
    msg("internal error: core does not accept the mark-good text '%s'", text);
    return HPM_BOOT_EXIT_IO;
  }
  if (hpm_efivar_write("HpmMarkGood", HPM_EFIVAR_ATTR_REQUEST, (const uint8_t *)text, (size_t)n)) {
    char p[512];
    hpm_efivar_path("HpmMarkGood", p, sizeof p);
    msg("%s: cannot write: %s", p, strerror(errno));
    return HPM_BOOT_EXIT_IO;
  }
  uint32_t floor_after = probe.floor > bi.st.floor ? probe.floor : bi.st.floor; /* never lowered */
  if (o.json) {
    printf("{\"slot\":\"%c\",\"baseline\":\"%s\",\"version\":", a, bi.baseline_hex);
    hpmh_json_str(stdout, bi.version);
    printf(",\"svn\":%u,\"result\":\"requested\",\"floor_after_reboot\":%u}\n", bi.svn, floor_after);
  } else {
    printf("marked slot %c good: baseline %s (svn %u); hpmboot.efi records it at the next boot "
           "(rollback floor %u -> %u)\n", a, bi.version, bi.svn, bi.st.floor, floor_after);
  }
  return 0;
}

/* ---- stage -------------------------------------------------------------- */

static const char stage_usage[] =
    "usage: hpm stage [--tries N] [--slot X] [--force] [--json] BASELINE.hpm\n"
    "  Verify a signed baseline against the trust store, copy it (and its\n"
    "  detached payloads) atomically into the inactive slot on the ESP, and\n"
    "  ask hpmboot.efi to try that slot first at the next boot with N tries\n"
    "  (default 3).  A reboot activates it; unless `hpm mark-good` runs in\n"
    "  that boot, the boot stage falls back to the running slot.\n"
    "  --slot X      stage into slot X (a-d, not the running one)\n"
    "  --force       replace the other slot's good baseline although the\n"
    "                running slot is not marked good yet\n"
    "  --trust-dir D trust store (HPM_TRUST_DIR, default /etc/hpm/trust)\n"
    "  --esp DIR     mounted ESP (HPM_ESP, default /boot/efi)\n"
    "exit: 0 staged, 1 refused, 2 usage, 3 I/O error, 5 not booted through hpmboot.efi\n";

typedef struct {
  char name[HPM_FILE_MAX + 1];
  uint8_t *buf;
  size_t len;
} blob;

typedef struct {
  const char *dir;
  blob files[HPM_MAX_PAYLOADS];
  unsigned n;
} detached_loader;

static void loader_free(detached_loader *l) {
  for (unsigned i = 0; i < l->n; i++) free(l->files[i].buf);
  l->n = 0;
}

/* hpm_ops.load: a detached payload beside the container (core has checked
 * that `file` is a plain name).  Bounded by the size the manifest states. */
static hpm_result load_detached(void *ctx, const char *file, uint64_t expected, const uint8_t **data,
                                size_t *len) {
  detached_loader *l = ctx;
  if (l->n >= HPM_MAX_PAYLOADS || expected == 0 || expected > HPM_PAYLOAD_MAX) return HPM_E_PAYLOAD_MISSING;
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", l->dir, file);
  hpmh_status e;
  uint8_t *b = NULL;
  size_t n = 0;
  if (hpmh_read_file(p, expected, &b, &n, &e)) return HPM_E_PAYLOAD_MISSING;
  blob *f = &l->files[l->n++];
  snprintf(f->name, sizeof f->name, "%s", file);
  f->buf = b;
  f->len = n;
  *data = b;
  *len = n;
  return HPM_OK;
}

static int load_trust(const char *dir, hpm_pubkey *keys, size_t *n) {
  *n = hpmh_trust_load(dir, keys, MAX_KEYS, hpm_msg_status);
  if (!*n) { msg("no trusted keys in %s (expected *.pub): refusing", dir); return -1; }
  return 0;
}

/* Verify a baseline file against trust (loaded from trust_dir); detached
 * payloads are read from its directory. */
static int verify_baseline(const char *path, const hpm_trust *trust, const char *trust_dir,
                           uint8_t **buf, size_t *len, detached_loader *l, hpm_manifest *m) {
  hpmh_status e;
  if (hpmh_read_file(path, CONTAINER_MAX, buf, len, &e)) { msg("%s", e.detail); return HPM_BOOT_EXIT_IO; }
  static char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *sl = strrchr(dir, '/');
  if (sl) *sl = 0;
  else snprintf(dir, sizeof dir, ".");
  l->dir = dir;
  hpm_ops ops = {l, load_detached};
  hpm_diag d;
  memset(&d, 0, sizeof d);
  hpm_result r = hpm_container_verify(*buf, *len, HPM_KIND_BASELINE, trust, &ops, m, &d);
  if (r != HPM_OK) {
    msg("%s: %s%s%s%s%s (trust store %s)", path, d.field[0] ? d.field : "", d.field[0] ? ": " : "",
        hpm_result_to_string(r), d.detail[0] ? ": " : "", d.detail, trust_dir);
    return HPM_BOOT_EXIT_REFUSED;
  }
  return 0;
}

/* Test hooks for interrupted copies (tests/lifecycle): after this many bytes
 * written to the ESP in this run, HPM_TEST_ESP_FAULT makes the next write
 * fail with ENOSPC (a full ESP); HPM_TEST_ESP_CRASH ends the process at
 * once (a kill or power cut), leaving the temp file behind. */
static long long esp_written;
static long long env_ll(const char *n) {
  const char *v = getenv(n);
  return v && *v ? atoll(v) : -1;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  long long fault = env_ll("HPM_TEST_ESP_FAULT"), crash = env_ll("HPM_TEST_ESP_CRASH");
  while (n) {
    size_t chunk = n > (1u << 20) ? (1u << 20) : n;
    if (crash >= 0 && esp_written + (long long)chunk > crash) {
      size_t k = (size_t)(crash - esp_written);
      if (k && write(fd, p, k) < 0) _exit(99);
      _exit(99);
    }
    if (fault >= 0 && esp_written + (long long)chunk > fault) {
      size_t k = (size_t)(fault - esp_written);
      if (k && write(fd, p, k) < 0) return -1;
      errno = ENOSPC;
      return -1;
    }
    ssize_t w = write(fd, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { if (w == 0) errno = EIO; return -1; }
    p += w;
    n -= (size_t)w;
    esp_written += w;
  }
  return 0;
}

#define TMP_PREFIX ".hpm-stage-"

/* Atomic replace of dir/name: temp file in dir, fsync, rename, dir fsync.
 * On failure the temp file is removed and dir/name is untouched. */
static int atomic_write(const char *dir, const char *name, const uint8_t *data, size_t len) {
  char tmp[1024], dst[1024];
  snprintf(dst, sizeof dst, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s/" TMP_PREFIX "%s.%d", dir, name, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { msg("%s: cannot create: %s", tmp, strerror(errno)); return -1; }
  if (write_all(fd, data, len) || fsync(fd)) {
    int e = errno;
    close(fd);
    unlink(tmp);
    msg("%s: writing %s failed: %s (%s untouched)", tmp, name, strerror(e), dst);
    return -1;
  }
  if (close(fd)) { int e = errno; unlink(tmp); msg("%s: %s", tmp, strerror(e)); return -1; }
  if (rename(tmp, dst)) { int e = errno; unlink(tmp); msg("%s: rename to %s: %s", tmp, dst, strerror(e)); return -1; }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd)) {
    int e = errno;
    if (dfd >= 0) close(dfd);
    msg("%s: directory fsync: %s", dir, strerror(e));
    return -1;
  }
  close(dfd);
  return 0;
}

/* Leftovers of an interrupted stage: only our own temp files. */
static void remove_stale_temps(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) continue;
    char p[1024];
    if (pjoin(p, sizeof p, dir, e->d_name) && !unlink(p)) msg("removed %s (left by an interrupted stage)", p);
  }
  if (d) closedir(d);
}

/* Does a slot other than `except` have a container naming detached file `f`?
 * A container that cannot be parsed counts as naming it (fail safe). */
static bool file_used_by_other_slot(const char *hpmdir, int except, const char *f, char *who) {
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    if ((int)i == except) continue;
    char p[1024], nm[16];
    snprintf(nm, sizeof nm, "slot-%c.hpm", hpm_bs_slot_letter(i));
    if (!pjoin(p, sizeof p, hpmdir, nm)) return true;
    uint8_t *b = NULL;
    size_t n = 0;
    hpmh_status e;
    if (access(p, F_OK)) continue;
    *who = hpm_bs_slot_letter(i);
    if (hpmh_read_file(p, CONTAINER_MAX, &b, &n, &e)) return true;
    static hpm_manifest m;
    hpm_result r = hpm_container_parse_unverified(b, n, &m, NULL);
    bool used = r != HPM_OK;
    for (size_t k = 0; r == HPM_OK && k < m.payload_count; k++)
      if (!m.payloads[k].embedded && !strcmp(m.payloads[k].file, f)) used = true;
    free(b);
    if (used) return true;
  }
  return false;
}

static bool same_file(const char *p, const uint8_t *data, size_t len) {
  uint8_t *b = NULL;
  size_t n = 0;
  hpmh_status e;
  if (hpmh_read_file(p, len, &b, &n, &e)) return false;
  bool same = n == len && !memcmp(b, data, len);
  free(b);
  return same;
}

int hpm_boot_cmd_stage(int argc, char **argv) {
  boot_opts o;
  int r = parse_opts(argc, argv, stage_usage, true, &o);
  if (r) return r;
  hpm_boot_info bi;
  if ((r = need_boot_info(&bi))) return r;
  static hpm_pubkey keys[MAX_KEYS];
  size_t nkeys;
  if (load_trust(o.trust_dir, keys, &nkeys)) return HPM_BOOT_EXIT_REFUSED;
  hpm_trust trust = {keys, nkeys, 1};

  static hpm_manifest m, m2;
  static detached_loader src, back;
  uint8_t *buf = NULL, *buf2 = NULL;
  size_t len = 0, len2 = 0;
  int rc = verify_baseline(o.file, &trust, o.trust_dir, &buf, &len, &src, &m);
  if (rc) goto out;
  char dg[2 * HPM_DIGEST_LEN + 1];
  hpm_fmt_hex(m.digest, HPM_DIGEST_LEN, dg, sizeof dg);
  rc = HPM_BOOT_EXIT_REFUSED;
  if (m.svn < bi.st.floor) {
    msg("%s: baseline %s has svn %u, below the rollback floor %u: the boot stage would refuse it; refusing",
        o.file, m.version, m.svn, bi.st.floor);
    goto out;
  }
  if (!memcmp(m.digest, bi.baseline, HPM_DIGEST_LEN)) {
    msg("%s: baseline %s is the running baseline (slot %c): nothing to stage", o.file, m.version,
        hpm_bs_slot_letter((unsigned)bi.active));
    goto out;
  }
  /* The inactive slot: the other one of the a/b pair (or --slot). */
  int target = o.slot;
  if (target < 0) {
    if (bi.active == 0) target = 1;
    else if (bi.active == 1) target = 0;
    else target = bi.st.slots[0].priority <= bi.st.slots[1].priority ? 0 : 1;
  }
  char t = hpm_bs_slot_letter((unsigned)target), a = hpm_bs_slot_letter((unsigned)bi.active);
  if (target == bi.active) { msg("slot %c is the running slot: staging never replaces it", t); goto out; }
  const hpm_bs_slot *as = &bi.st.slots[bi.active], *ts = &bi.st.slots[target];
  if (ts->successful && !as->successful && !bi.markgood_for_running && !o.force) {
    msg("slot %c holds the last good baseline and the running slot %c is not marked good yet: staging would "
        "leave nothing good to fall back to; run `hpm mark-good` first (or --force)", t, a);
    goto out;
  }

  /* activate the slot with N tries, forgetting its old mark and refusal */
  hpm_bs_request req;
  memset(&req, 0, sizeof req);
  req.sequence = bi.st.sequence;
  req.count = 1;
  req.entries[0].op = HPM_BS_REQ_OP_ACTIVATE;
  req.entries[0].slot = (uint8_t)target;
  req.entries[0].tries = (uint8_t)o.tries;
  req.entries[0].flags = HPM_BS_REQ_CLEAR_SUCCESSFUL | HPM_BS_REQ_CLEAR_REFUSAL;
  if ((rc = check_slot_request(&bi, &req))) goto out;

  char hpmdir[1024];
  snprintf(hpmdir, sizeof hpmdir, "%s/EFI/hpm", o.esp);
  struct stat sb;
  if (stat(hpmdir, &sb) || !S_ISDIR(sb.st_mode)) {
    msg("%s: not a directory: is the ESP mounted there? (--esp, HPM_ESP)", hpmdir);
    rc = HPM_BOOT_EXIT_IO;
    goto out;
  }
  /* One stage at a time: the folder itself is the lock (released at exit). */
  int lockfd = open(hpmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB)) {
    msg("%s: %s", hpmdir, lockfd < 0 ? strerror(errno) : "another `hpm stage` is running: try again when it is done");
    rc = HPM_BOOT_EXIT_IO;
    goto out;
  }
  remove_stale_temps(hpmdir);

  /* Detached payloads first: never overwrite one another slot uses. */
  rc = HPM_BOOT_EXIT_IO;
  for (unsigned i = 0; i < src.n; i++) {
    char p[1024], who = '?';
    if (!pjoin(p, sizeof p, hpmdir, src.files[i].name)) { msg("%s: path too long", hpmdir); goto out; }
    if (!access(p, F_OK)) {
      if (same_file(p, src.files[i].buf, src.files[i].len)) continue;
      if (file_used_by_other_slot(hpmdir, target, src.files[i].name, &who)) {
        msg("%s: exists with other content and slot %c's container names it: staging would damage slot %c; "
            "give the new baseline's detached payloads other file names", p, who, who);
        rc = HPM_BOOT_EXIT_REFUSED;
        goto out;
      }
    }
    if (atomic_write(hpmdir, src.files[i].name, src.files[i].buf, src.files[i].len)) goto out;
  }
  char name[32], dst[1100];
  snprintf(name, sizeof name, "slot-%c.hpm", t);
  snprintf(dst, sizeof dst, "%s/%s", hpmdir, name);
  if (atomic_write(hpmdir, name, buf, len)) goto out;

  /* Re-verify what is on the ESP now. */
  if ((rc = verify_baseline(dst, &trust, o.trust_dir, &buf2, &len2, &back, &m2)) ||
      memcmp(m2.digest, m.digest, HPM_DIGEST_LEN)) {
    msg("%s: the written copy does not verify as %s: not requesting the slot", dst, o.file);
    rc = HPM_BOOT_EXIT_IO;
    goto out;
  }

  if ((rc = write_slot_request(&bi, &req))) goto out;
  if (o.json) {
    printf("{\"slot\":\"%c\",\"path\":", t);
    hpmh_json_str(stdout, dst);
    printf(",\"version\":");
    hpmh_json_str(stdout, m.version);
    printf(",\"svn\":%u,\"digest\":\"%s\",\"tries\":%u,\"state_sequence\":%llu,\"reboot_required\":true,"
           "\"fallback_slot\":\"%c\"}\n", m.svn, dg, o.tries, (unsigned long long)bi.st.sequence, a);
  } else {
    printf("staged baseline %s (svn %u, digest %.16s...) into slot %c (%s)\n", m.version, m.svn, dg, t, dst);
    printf("a reboot will activate it: slot %c is tried first with %u tries; unless `hpm mark-good` runs in "
           "that boot, the boot stage falls back to slot %c\n", t, o.tries, a);
  }
  rc = 0;
out:
  free(buf);
  free(buf2);
  loader_free(&src);
  loader_free(&back);
  return rc;
}

/* ---- rollback ----------------------------------------------------------- */

static const char rollback_usage[] =
    "usage: hpm rollback [--json]\n"
    "  Ask hpmboot.efi to make the previous good slot active again at the next\n"
    "  boot (a slot request: activate, no tries needed as it is marked good).\n"
    "  It still boots only if its baseline verifies and its SVN is not below\n"
    "  the rollback floor.\n"
    "exit: 0 requested, 1 no other good slot, 3 I/O error, 5 not booted through hpmboot.efi\n";

int hpm_boot_cmd_rollback(int argc, char **argv) {
  boot_opts o;
  int r = parse_opts(argc, argv, rollback_usage, false, &o);
  if (r) return r;
  hpm_boot_info bi;
  if ((r = need_boot_info(&bi))) return r;
  int best = -1;
  char below[200] = "";
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &bi.st.slots[i];
    if ((int)i == bi.active || !s->successful || s->reason != HPM_BS_REASON_NONE) continue;
    if (s->svn < bi.st.floor) {
      snprintf(below, sizeof below, " (slot %c is marked good but its svn %u is below the rollback floor %u)",
               hpm_bs_slot_letter(i), s->svn, bi.st.floor);
      continue;
    }
    if (best < 0 || s->priority > bi.st.slots[best].priority) best = (int)i;
  }
  char a = hpm_bs_slot_letter((unsigned)bi.active);
  if (best < 0) {
    msg("no previous good slot to roll back to: no slot other than the running slot %c is marked good%s", a, below);
    return HPM_BOOT_EXIT_REFUSED;
  }
  hpm_bs_request req;
  memset(&req, 0, sizeof req);
  req.sequence = bi.st.sequence;
  req.count = 1;
  req.entries[0].op = HPM_BS_REQ_OP_ACTIVATE;
  req.entries[0].slot = (uint8_t)best;
  if ((r = check_slot_request(&bi, &req)) || (r = write_slot_request(&bi, &req))) return r;
  char b = hpm_bs_slot_letter((unsigned)best), hx[2 * HPM_DIGEST_LEN + 1];
  hpm_fmt_hex(bi.st.slots[best].digest, HPM_DIGEST_LEN, hx, sizeof hx);
  if (o.json)
    printf("{\"slot\":\"%c\",\"from\":\"%c\",\"svn\":%u,\"baseline\":\"%s\",\"reboot_required\":true}\n", b, a,
           bi.st.slots[best].svn, hx);
  else
    printf("rollback requested: slot %c (svn %u, baseline %.16s...) becomes active at the next reboot "
           "(running: slot %c)\n", b, bi.st.slots[best].svn, hx, a);
  return 0;
}
