/* SPDX-License-Identifier: MIT */
/*
 * hpmboot.efi: the UEFI boot stage (docs/boot-interface.md).
 *
 *   boot state (two NV boot-services-only records) + requests from the OS
 *   (mark-good; a slot request, applied and stored before selecting; one-shot)
 *   → slot selection (core/bootstate.c), each candidate read from the ESP
 *     once and verified by core against the built-in trusted keys
 *   → state persisted → variables telling the OS → kernel handover.
 *
 * Fails closed: there is no path that boots anything unverified, no shell,
 * no editable command line.  When nothing verifies, every slot's refusal is
 * printed (screen and serial) and the stage waits for a key, then returns
 * to the firmware boot menu.
 */
#include "hpmboot.h"
#include "hpm/format.h"
#include "sysdeps_efi.h"

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);


_Static_assert(HPM_VAR_ATTR_NV == EFI_VARIABLE_NON_VOLATILE &&
                   HPM_VAR_ATTR_BS == EFI_VARIABLE_BOOTSERVICE_ACCESS &&
                   HPM_VAR_ATTR_RT == EFI_VARIABLE_RUNTIME_ACCESS,
               "the interface's attribute bits are UEFI's");
/* The boot stage's own work (reading and hashing up to a few hundred MiB
 * under emulation) must not take longer; a hang resets the machine and the
 * try already consumed counts. */
#define WATCHDOG_SECONDS 300
#define WATCHDOG_CODE 0x10000
#define SLOT_FILE_MAX (HPM_PAYLOAD_AREA_MAX + 1024u * 1024u)
#define REQUEST_MAX 256

/* ---- timing (docs/boot-interface.md "Timing figures") -----------------------
 * The TSC, read at fixed points; in bench mode (a file \EFI\hpm\bench on
 * the ESP) it is calibrated against gBS->Stall after the measured interval
 * and the figures are printed.  Timing never changes what is verified. */

static inline uint64_t tsc(void) {
  uint32_t lo, hi;
  __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

#define BENCH_FILES_MAX 8
static struct {
  bool on;
  uint64_t start, read, verify, state;
  uint64_t bytes;
  unsigned files;
  CHAR16 (*path)[16 + HPM_FILE_MAX + 1]; /* BENCH_FILES_MAX, pool, bench mode only */
} timing;

static EFI_HANDLE self;
static EFI_FILE_HANDLE esp_root;
static hpm_pubkey trusted[16];
static hpm_trust trust;

/* ---- files on the ESP ------------------------------------------------------ */

static void slot_path(CHAR16 *out, unsigned slot) {
  static const CHAR16 base[] = L"\\EFI\\hpm\\slot-?.hpm";
  for (UINTN i = 0; i < sizeof base / sizeof base[0]; i++) out[i] = base[i];
  out[14] = (CHAR16)hpm_bs_slot_letter(slot);
}

/* Read a whole file into page memory.  EFI_NOT_FOUND when it does not
 * exist; EFI_BAD_BUFFER_SIZE when larger than max or, with want != 0,
 * not exactly want bytes. */
static EFI_STATUS read_file_untimed(const CHAR16 *path, UINT64 max, UINT64 want, uint8_t **buf,
                                    UINTN *len);
static EFI_STATUS read_file(const CHAR16 *path, UINT64 max, UINT64 want, uint8_t **buf,
                            UINTN *len) {
  uint64_t t0 = tsc();
  EFI_STATUS st = read_file_untimed(path, max, want, buf, len);
  timing.read += tsc() - t0;
  if (timing.on && timing.path != NULL && !EFI_ERROR(st)) {
    timing.bytes += *len;
    if (timing.files < BENCH_FILES_MAX) {
      CHAR16 *d = timing.path[timing.files++];
      UINTN i = 0;
      for (; path[i] && i + 1 < sizeof timing.path[0] / sizeof(CHAR16); i++) d[i] = path[i];
      d[i] = 0;
    }
  }
  return st;
}

static EFI_STATUS read_file_untimed(const CHAR16 *path, UINT64 max, UINT64 want, uint8_t **buf,
                                    UINTN *len) {
  EFI_FILE_HANDLE f = NULL;
  EFI_STATUS st = uefi_call_wrapper(esp_root->Open, 5, esp_root, &f, (CHAR16 *)path,
                                    EFI_FILE_MODE_READ, 0ULL);
  if (EFI_ERROR(st)) return st;
  EFI_FILE_INFO *info = LibFileInfo(f);
  if (info == NULL) {
    uefi_call_wrapper(f->Close, 1, f);
    return EFI_DEVICE_ERROR;
  }
  UINT64 size = info->FileSize;
  BOOLEAN dir = (info->Attribute & EFI_FILE_DIRECTORY) != 0;
  FreePool(info);
  if (dir) {
    uefi_call_wrapper(f->Close, 1, f);
    return EFI_NOT_FOUND;
  }
  if (size > max || (want != 0 && size != want)) {
    uefi_call_wrapper(f->Close, 1, f);
    return EFI_BAD_BUFFER_SIZE;
  }
  EFI_PHYSICAL_ADDRESS addr = 0;
  UINTN pages = EFI_SIZE_TO_PAGES((UINTN)size + 1);
  st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData, pages, &addr);
  if (EFI_ERROR(st)) {
    uefi_call_wrapper(f->Close, 1, f);
    return st;
  }
  uint8_t *p = (uint8_t *)(UINTN)addr;
  UINTN got = (UINTN)size;
  st = uefi_call_wrapper(f->Read, 3, f, &got, p);
  uefi_call_wrapper(f->Close, 1, f);
  if (!EFI_ERROR(st) && got != size) st = EFI_END_OF_FILE;
  if (EFI_ERROR(st)) {
    uefi_call_wrapper(BS->FreePages, 2, addr, pages);
    return st;
  }
  *buf = p;
  *len = got;
  return EFI_SUCCESS;
}

static void free_file(uint8_t *buf, UINTN len) {
  if (buf) uefi_call_wrapper(BS->FreePages, 2, (EFI_PHYSICAL_ADDRESS)(UINTN)buf,
                             EFI_SIZE_TO_PAGES(len + 1));
}

/* ---- slots: read + verify (the checker core's selection calls) --------------- */

typedef struct {
  bool verified;
  uint8_t *file;
  UINTN file_len;
  struct {
    uint8_t *buf;
    UINTN len;
  } detached[HPM_MAX_PAYLOADS];
  unsigned detached_count;
  hpm_manifest m;
  char why[200]; /* this boot's refusal, for the screen */
} slot_data;

static slot_data slots[HPM_BS_MAX_SLOTS];

static void slot_release(slot_data *s) {
  free_file(s->file, s->file_len);
  for (unsigned i = 0; i < s->detached_count; i++)
    free_file(s->detached[i].buf, s->detached[i].len);
  s->file = NULL;
  s->detached_count = 0;
  s->verified = false;
}

/* hpm_ops.load: a detached payload beside the container.  core has already
 * checked that `file` is a plain name; the expected size is enforced before
 * reading so a huge file is not read at all. */
static hpm_result load_detached(void *ctx, const char *file, uint64_t expected,
                                const uint8_t **data, size_t *len) {
  slot_data *s = ctx;
  CHAR16 path[16 + HPM_FILE_MAX + 1];
  static const CHAR16 dir[] = L"\\EFI\\hpm\\";
  UINTN n = 0;
  for (; dir[n]; n++) path[n] = dir[n];
  for (const char *c = file; *c && n + 1 < sizeof path / sizeof path[0]; c++)
    path[n++] = (CHAR16)(unsigned char)*c;
  path[n] = 0;
  if (s->detached_count >= HPM_MAX_PAYLOADS || expected == 0) return HPM_E_PAYLOAD_MISSING;
  uint8_t *buf = NULL;
  UINTN got = 0;
  EFI_STATUS st = read_file(path, HPM_PAYLOAD_MAX, expected, &buf, &got);
  if (EFI_ERROR(st)) {
    Print(L"hpm: %a: detached payload: %r\r\n", file, st);
    return HPM_E_PAYLOAD_MISSING;
  }
  s->detached[s->detached_count].buf = buf;
  s->detached[s->detached_count].len = got;
  s->detached_count++;
  *data = buf;
  *len = got;
  return HPM_OK;
}

static hpm_bs_reason check_slot(void *ctx, unsigned i, uint32_t *svn,
                                uint8_t digest[HPM_DIGEST_LEN], uint8_t *detail) {
  (void)ctx;
  slot_data *s = &slots[i];
  char letter = hpm_bs_slot_letter(i);
  hpm_text why = hpm_text_start(s->why, sizeof s->why);
  slot_release(s);

  CHAR16 path[32];
  slot_path(path, i);
  uefi_call_wrapper(BS->SetWatchdogTimer, 4, WATCHDOG_SECONDS, WATCHDOG_CODE, 0, NULL);
  Print(L"hpm: slot %c: reading %s\r\n", (CHAR16)letter, path);
  EFI_STATUS st = read_file(path, SLOT_FILE_MAX, 0, &s->file, &s->file_len);
  if (st == EFI_NOT_FOUND) {
    hpm_text_add(&why, "no container on the ESP");
    Print(L"hpm: slot %c: %s: not found\r\n", (CHAR16)letter, path);
    return HPM_BS_REASON_NO_CONTAINER;
  }
  if (EFI_ERROR(st)) {
    hpm_text_add(&why, "cannot read the container");
    Print(L"hpm: slot %c: reading %s failed: %r\r\n", (CHAR16)letter, path, st);
    return HPM_BS_REASON_READ_ERROR;
  }

  hpm_ops ops = {s, load_detached};
  hpm_diag diag;
  SetMem(&diag, sizeof diag, 0);
  Print(L"hpm: slot %c: verifying %lu bytes\r\n", (CHAR16)letter, (UINT64)s->file_len);
  uint64_t t0 = tsc(), read0 = timing.read;
  hpm_result r = hpm_container_verify(s->file, s->file_len, HPM_KIND_BASELINE, &trust, &ops,
                                      &s->m, &diag);
  /* Detached payloads are read from inside the verify: that is reading. */
  timing.verify += (tsc() - t0) - (timing.read - read0);
  if (r != HPM_OK) {
    hpm_text_add(&why, hpm_result_to_string(r));
    if (diag.field[0]) {
      hpm_text_add(&why, " at ");
      hpm_text_add(&why, diag.field);
    }
    if (diag.detail[0]) {
      hpm_text_add(&why, ": ");
      hpm_text_add(&why, diag.detail);
    }
    Print(L"hpm: slot %c: refused: slot-%c.hpm: %a\r\n", (CHAR16)letter, (CHAR16)letter, s->why);
    slot_release(s);
    *detail = (uint8_t)r;
    return HPM_BS_REASON_VERIFY_FAILED;
  }
  s->verified = true;
  *svn = s->m.svn;
  CopyMem(digest, s->m.digest, HPM_DIGEST_LEN);
  Print(L"hpm: slot %c: verified baseline %a (svn %u, %u trusted signer(s))\r\n",
        (CHAR16)letter, s->m.version, s->m.svn, s->m.trusted_signers);
  return HPM_BS_REASON_NONE;
}

static const hpm_payload *payload(const hpm_manifest *m, hpm_payload_type t) {
  for (size_t i = 0; i < m->payload_count; i++)
    if (m->payloads[i].type == t) return &m->payloads[i];
  return NULL;
}

static void state_log(const char *what, const hpm_bootstate *st);

/* Persist st, timed as "state" in the figures. */
static hpm_bs_result store_state(const hpm_bs_ops *ops, hpm_bootstate *st) {
  uint64_t t0 = tsc();
  hpm_bs_result r = hpm_bs_store(ops, st);
  timing.state += tsc() - t0;
  return r;
}

/*
 * The slot request (HpmSlotRequest): parsed strictly, applied whole to the
 * loaded state or not at all, stored, and only then deleted; the outcome is
 * published in HpmBootRequest.  A request that cannot be applied (malformed,
 * stale, refused) is deleted too: it can never become valid.  A request
 * that was applied but could not be stored is undone and kept for the next
 * boot.  A request left behind by a power cut after the store is stale at
 * the next boot (the sequence moved on): it is never applied twice.
 */
static void slot_request(const hpm_bs_ops *ops, hpm_bootstate *st, hpm_bootstate *before) {
  uint8_t buf[HPM_BS_REQ_MAX_SIZE];
  UINT32 attrs = 0;
  UINTN n = sizeof buf;
  EFI_STATUS es = uefi_call_wrapper(RT->GetVariable, 5, HPMBOOT_VAR(HPM_VAR_SLOT_REQUEST),
                                    &hpmboot_guid, &attrs, &n, buf);
  if (es == EFI_NOT_FOUND) return;
  static char text[160];
  hpm_text t = hpm_text_start(text, sizeof text);
  bool drop = true;
  hpm_bs_request req;
  hpm_bs_result pr;
  if (es == EFI_BUFFER_TOO_SMALL) {
    hpm_text_add(&t, "malformed: wrong size");
  } else if (EFI_ERROR(es)) {
    Print(L"hpm: error: reading " HPM_VAR_SLOT_REQUEST ": %r\r\n", es);
    hpm_text_add(&t, "not applied: the firmware could not read it");
    drop = false;
  } else if (attrs != HPM_VAR_ATTR_REQUEST) {
    hpm_text_add(&t, "malformed: unexpected variable attributes");
  } else if ((pr = hpm_bs_parse_request(buf, n, &req)) != HPM_BS_OK) {
    hpm_text_add(&t, "malformed: ");
    hpm_text_add(&t, hpm_bs_result_to_string(pr));
  } else {
    hpm_bootstate pre = *st;
    hpm_bs_req_status rs = hpm_bs_apply_request(st, &req);
    if (rs == HPM_BS_REQ_APPLIED) {
      hpm_bs_result w = store_state(ops, st);
      if (w == HPM_BS_OK) {
        *before = *st;
        hpm_text_add(&t, "applied: state sequence ");
        hpm_text_u64(&t, st->sequence);
        state_log("written", st);
      } else {
        *st = pre;
        hpm_text_add(&t, "not applied: the boot state could not be stored (");
        hpm_text_add(&t, hpm_bs_result_to_string(w));
        hpm_text_add(&t, ")");
        drop = false;
      }
    } else if (rs == HPM_BS_REQ_STALE) {
      hpm_text_add(&t, "stale: made for state sequence ");
      hpm_text_u64(&t, req.sequence);
      if (st->origin == HPM_BS_ORIGIN_LOADED) {
        hpm_text_add(&t, ", the state is at ");
        hpm_text_u64(&t, st->sequence);
      } else {
        hpm_text_add(&t, ", the state is a ");
        hpm_text_add(&t, hpm_bs_origin_to_string(st->origin));
      }
    } else {
      hpm_text_add(&t, hpm_bs_req_status_to_string(rs));
    }
  }
  Print(L"hpm: slot request: %a\r\n", text);
  if (drop && EFI_ERROR(hpmboot_delete_var(HPMBOOT_VAR(HPM_VAR_SLOT_REQUEST))))
    Print(L"hpm: warning: the slot request stays; it is stale at the next boot\r\n");
  hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_REQUEST), text);
}

/* ---- bench mode ------------------------------------------------------------- */

static bool bench_requested(void) {
  EFI_FILE_HANDLE f = NULL;
  EFI_STATUS st = uefi_call_wrapper(esp_root->Open, 5, esp_root, &f, L"\\EFI\\hpm\\bench",
                                    EFI_FILE_MODE_READ, 0ULL);
  if (st == EFI_NOT_FOUND) return false;
  if (EFI_ERROR(st)) {
    Print(L"hpm: warning: \\EFI\\hpm\\bench: %r (no timing figures)\r\n", st);
    return false;
  }
  uefi_call_wrapper(f->Close, 1, f);
  return true;
}

static uint64_t ticks_us(uint64_t ticks, uint64_t per_ms) {
  return per_ms ? ticks * 1000u / per_ms : 0;
}

/* Called right before the handover (the end of the measured interval):
 * read every file the boot read once more, only reading, then calibrate
 * the TSC against gBS->Stall and print the figures on the console. */
static void bench_report(void) {
  uint64_t end = tsc();
  uint64_t ro = 0, ro_bytes = 0;
  for (unsigned i = 0; i < timing.files; i++) {
    uint8_t *buf = NULL;
    UINTN len = 0;
    uint64_t t0 = tsc();
    EFI_STATUS st = read_file_untimed(timing.path[i], SLOT_FILE_MAX, 0, &buf, &len);
    ro += tsc() - t0;
    if (EFI_ERROR(st)) {
      Print(L"hpm: bench: re-reading %s: %r\r\n", timing.path[i], st);
      continue;
    }
    ro_bytes += len;
    free_file(buf, len);
  }
  uint64_t c0 = tsc();
  EFI_STATUS st = uefi_call_wrapper(BS->Stall, 1, 100000);
  uint64_t per_ms = (tsc() - c0) / 100u;
  if (EFI_ERROR(st)) {
    Print(L"hpm: bench: Stall: %r (no calibration)\r\n", st);
    per_ms = 0;
  }
  uint64_t total = end - timing.start;
  uint64_t other = total - timing.read - timing.verify - timing.state;
  Print(L"hpm: bench: source=tsc sha=%a tsc_khz=%lu files=%u bytes=%lu read_us=%lu verify_us=%lu "
        L"state_us=%lu other_us=%lu total_us=%lu readonly_bytes=%lu readonly_us=%lu\r\n",
        hpm_sha256_accelerated() ? "shani" : "mbedtls", per_ms, timing.files, timing.bytes, ticks_us(timing.read, per_ms),
        ticks_us(timing.verify, per_ms), ticks_us(timing.state, per_ms),
        ticks_us(other, per_ms), ticks_us(total, per_ms), ro_bytes, ticks_us(ro, per_ms));
}

/* ---- measured boot ---------------------------------------------------------- */

/* One word per decision, for the decision event (docs/boot-interface.md). */
static const char *decision_word(hpm_bs_decision d) {
  switch (d) {
    case HPM_BS_BOOT_ONESHOT: return "one-shot";
    case HPM_BS_BOOT_GOOD: return "marked-good";
    case HPM_BS_BOOT_TRIAL: return "trial";
    case HPM_BS_BOOT_FALLBACK: return "fallback";
    case HPM_BS_NOTHING_BOOTABLE: break;
  }
  return "nothing-bootable";
}

/* The events of docs/boot-interface.md "Measured boot"; the outcome is
 * published as HpmBootTpm.  A failed measurement does not stop the boot:
 * nothing unverified runs, and a remote verifier sees the missing events. */
static void measure(const slot_data *s, const hpm_payload *k, char letter, hpm_bs_decision d,
                    unsigned attempt, uint32_t floor, const char *hex) {
  static char baseline[256], decision[256];
  hpm_text b = hpm_text_start(baseline, sizeof baseline);
  hpm_text_add(&b, "hpm.baseline sha256=");
  hpm_text_add(&b, hex);
  hpm_text_add(&b, " version=");
  hpm_text_add(&b, s->m.version);
  hpm_text e = hpm_text_start(decision, sizeof decision);
  hpm_text_add(&e, "hpm.decision slot=");
  hpm_text_char(&e, letter);
  hpm_text_add(&e, " svn=");
  hpm_text_u64(&e, s->m.svn);
  hpm_text_add(&e, " reason=");
  hpm_text_add(&e, decision_word(d));
  hpm_text_add(&e, " attempt=");
  hpm_text_u64(&e, attempt);
  hpm_text_add(&e, " floor=");
  hpm_text_u64(&e, floor);
  char outcome[96];
  EFI_STATUS st = EFI_SUCCESS;
  hpmboot_tpm_result r =
      hpmboot_measure(s->file, HPM_HEADER_SIZE + (UINTN)s->m.manifest_size, baseline, decision,
                      k->data, (UINTN)k->size, &st, outcome, sizeof outcome);
  if (r == HPMBOOT_TPM_ABSENT)
    Print(L"hpm: tpm: no TPM 2.0 (EFI_TCG2_PROTOCOL): booting unmeasured\r\n");
  else if (r == HPMBOOT_TPM_FAILED)
    Print(L"hpm: tpm: warning: %a: %r (booting; the event log lacks hpm's events)\r\n", outcome, st);
  else
    Print(L"hpm: tpm: %a\r\n", outcome);
  hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_TPM), outcome);
}

/* ---- refusal screen --------------------------------------------------------- */

static void print_lines(const char *prefix, const char *text) {
  char line[256];
  size_t n = 0;
  for (const char *p = text;; p++) {
    if (*p == '\n' || *p == 0 || n + 1 == sizeof line) {
      line[n] = 0;
      if (n) Print(L"%a%a\r\n", prefix, line);
      n = 0;
      if (*p == 0) break;
      if (*p != '\n') line[n++] = *p;
      continue;
    }
    line[n++] = *p;
  }
}

static EFI_STATUS nothing_bootable(const hpm_bootstate *st, const char *extra) {
  static char text[HPM_BS_MAX_SLOTS * 300];
  hpm_text b = hpm_text_start(text, sizeof text);
  for (unsigned i = 0; i < HPM_BS_MAX_SLOTS; i++) {
    const hpm_bs_slot *s = &st->slots[i];
    if (s->priority == 0 && !slots[i].why[0]) continue;
    hpm_text_add(&b, "  slot ");
    hpm_text_char(&b, hpm_bs_slot_letter(i));
    hpm_text_add(&b, ": ");
    if (slots[i].why[0]) {
      hpm_text_add(&b, hpm_bs_reason_to_string(s->reason));
      hpm_text_add(&b, ": ");
      hpm_text_add(&b, slots[i].why);
    } else if (s->reason == HPM_BS_REASON_ROLLBACK) {
      hpm_text_add(&b, "rollback: security version ");
      hpm_text_u64(&b, s->svn);
      hpm_text_add(&b, " is below the floor ");
      hpm_text_u64(&b, st->floor);
    } else if (s->reason != HPM_BS_REASON_NONE) {
      hpm_text_add(&b, hpm_bs_reason_to_string(s->reason));
      if (s->reason == HPM_BS_REASON_TRIES_EXHAUSTED)
        hpm_text_add(&b, ": never marked good by the OS within its tries");
    } else {
      hpm_text_add(&b, "not a candidate (no tries left, not marked good)");
    }
    hpm_text_char(&b, '\n');
  }
  for (unsigned pass = 0;; pass++) {
    Print(L"\r\nhpm: NOTHING BOOTABLE: no slot holds a verified baseline this stage may boot.\r\n");
    if (extra) Print(L"hpm: %a\r\n", extra);
    print_lines("hpm: ", text);
    Print(L"hpm: nothing unverified is booted. Install a signed baseline, or press a key to\r\n"
          L"hpm: return to the firmware boot menu.\r\n");
    if (pass == 0) uefi_call_wrapper(BS->SetWatchdogTimer, 4, 0, 0, 0, NULL);
    /* Wait for a key; repeat the explanation every minute meanwhile. */
    EFI_EVENT timer = NULL, events[2];
    UINTN idx = 0;
    EFI_STATUS s = uefi_call_wrapper(BS->CreateEvent, 5, EVT_TIMER, 0, NULL, NULL, &timer);
    if (EFI_ERROR(s)) {
      Print(L"hpm: error: CreateEvent: %r\r\n", s);
      uefi_call_wrapper(BS->Stall, 1, 60 * 1000 * 1000);
      continue;
    }
    uefi_call_wrapper(BS->SetTimer, 3, timer, TimerRelative, 600000000ULL);
    events[0] = ST->ConIn->WaitForKey;
    events[1] = timer;
    s = uefi_call_wrapper(BS->WaitForEvent, 3, 2, events, &idx);
    uefi_call_wrapper(BS->CloseEvent, 1, timer);
    if (!EFI_ERROR(s) && idx == 0) {
      EFI_INPUT_KEY key;
      uefi_call_wrapper(ST->ConIn->ReadKeyStroke, 2, ST->ConIn, &key);
      return EFI_NOT_FOUND;
    }
  }
}

/* ---- main ------------------------------------------------------------------- */

static EFI_STATUS init_trust(void) {
  if (hpmboot_trusted_key_count == 0 || hpmboot_trusted_key_count > 16) {
    Print(L"hpm: error: built with %u trusted keys (1..16 required)\r\n",
          (UINT32)hpmboot_trusted_key_count);
    return EFI_SECURITY_VIOLATION;
  }
  for (size_t i = 0; i < hpmboot_trusted_key_count; i++) {
    hpm_result r = hpm_pubkey_from_spki(hpmboot_trusted_keys[i].der, hpmboot_trusted_keys[i].len,
                                        &trusted[i]);
    if (r != HPM_OK) {
      Print(L"hpm: error: built-in key %a: %a\r\n", hpmboot_trusted_keys[i].name,
            hpm_result_to_string(r));
      return EFI_SECURITY_VIOLATION;
    }
    char id[17];
    hpm_fmt_hex(trusted[i].key_id, 8, id, sizeof id);
    Print(L"hpm: trusted key %a (%a)\r\n", id, hpmboot_trusted_keys[i].name);
  }
  trust.keys = trusted;
  trust.count = hpmboot_trusted_key_count;
  trust.threshold = hpmboot_trust_threshold;
  return EFI_SUCCESS;
}

static EFI_STATUS open_esp(void) {
  EFI_LOADED_IMAGE *li = NULL;
  EFI_STATUS st = uefi_call_wrapper(BS->OpenProtocol, 6, self, &LoadedImageProtocol, (VOID **)&li,
                                    self, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL);
  if (EFI_ERROR(st) || li == NULL) {
    Print(L"hpm: error: LoadedImage protocol of hpmboot.efi: %r\r\n", st);
    return EFI_ERROR(st) ? st : EFI_NOT_FOUND;
  }
  esp_root = LibOpenRoot(li->DeviceHandle);
  if (esp_root == NULL) {
    Print(L"hpm: error: cannot open the file system hpmboot.efi was loaded from\r\n");
    return EFI_NOT_FOUND;
  }
  return EFI_SUCCESS;
}

static void state_log(const char *what, const hpm_bootstate *st) {
  Print(L"hpm: state: %a: %a, sequence %lu, floor %u, copies: %a / %a\r\n", what,
        hpm_bs_origin_to_string(st->origin), st->sequence, st->floor,
        hpm_bs_result_to_string(st->copy_status[0]), hpm_bs_result_to_string(st->copy_status[1]));
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab) {
  timing.start = tsc();
  InitializeLib(image, systab);
  self = image;
  uefi_call_wrapper(BS->SetWatchdogTimer, 4, WATCHDOG_SECONDS, WATCHDOG_CODE, 0, NULL);
  Print(L"\r\nhpmboot %a: verified boot of signed baselines\r\n", hpmboot_version);
#ifdef HPMBOOT_DEV_IMAGE
  Print(L"hpm: ****************************************************************\r\n"
        L"hpm: ***  DEVELOPMENT BOOT IMAGE (hpmboot-dev.efi): NOT FOR PRODUCTION\r\n"
        L"hpm: ***  it trusts the throwaway key of a build tree; build a release\r\n"
        L"hpm: ***  image with `make hpmboot-release HPM_TRUST_KEYS=...`\r\n"
        L"hpm: ****************************************************************\r\n");
  hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_IMAGE), HPM_BOOT_IMAGE_DEVELOPMENT);
#else
  hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_IMAGE), HPM_BOOT_IMAGE_RELEASE);
#endif
  const char *sb = hpmboot_sb_state_to_string(hpmboot_secure_boot_state());
  Print(L"hpm: secure boot: %a\r\n", sb);
  hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_SECURE_BOOT), sb);

  hpm_bootstate st;
  hpm_bs_default(&st, HPM_BS_ORIGIN_FRESH);
  EFI_STATUS es = hpm_efi_sysdeps_init();
  if (EFI_ERROR(es)) {
    Print(L"hpm: error: crypto arena: %r\r\n", es);
    return nothing_bootable(&st, "internal error: no memory for verification");
  }
  if (EFI_ERROR(init_trust())) return nothing_bootable(&st, "no usable built-in trusted key");
  if (EFI_ERROR(open_esp())) return nothing_bootable(&st, "cannot open the ESP");
  timing.on = bench_requested();
  if (timing.on) {
    timing.path = AllocateZeroPool(BENCH_FILES_MAX * sizeof timing.path[0]);
    if (timing.path == NULL) Print(L"hpm: bench: out of memory (no read-only pass)\r\n");
    Print(L"hpm: bench mode: timing figures before the handover\r\n");
  }

  hpm_bs_ops ops = {NULL, hpmboot_state_read, hpmboot_state_write};
  hpm_bs_load(&ops, &st);
  state_log("loaded", &st);
  hpm_bootstate before = st;

  /* The floor is the higher of the boot state's and the TPM's: clearing
   * the variables must not let an older baseline boot.  Raised after
   * `before`, so the state written below carries it. */
  hpmboot_tpm_floor tpm_floor;
  hpmboot_tpm_floor_load(&tpm_floor);
  if (tpm_floor.backed && tpm_floor.floor > st.floor) {
    Print(L"hpm: state: floor %u is below the TPM floor %u (variables reset or older): "
          L"using floor %u\r\n",
          st.floor, tpm_floor.floor, tpm_floor.floor);
    st.floor = tpm_floor.floor;
  }

  /* Requests from the OS.  Mark-good is applied now and its variable
   * deleted only once the new state is stored (re-applying is harmless);
   * a one-shot is deleted before it is used, so it is honoured once. */
  uint8_t req[REQUEST_MAX];
  UINTN req_len = sizeof req;
  bool mark_present = hpmboot_read_request(HPMBOOT_VAR(HPM_VAR_MARK_GOOD), req, &req_len);
  if (mark_present) {
    hpm_bs_mark m = hpm_bs_apply_mark_good(&st, req, req_len);
    Print(L"hpm: mark-good request: %a\r\n", hpm_bs_mark_to_string(m));
  }
  /* A slot request is applied and stored before anything is selected. */
  slot_request(&ops, &st, &before);
  int oneshot = -1;
  req_len = sizeof req;
  if (hpmboot_read_request(HPMBOOT_VAR(HPM_VAR_ONESHOT), req, &req_len)) {
    int s = hpm_bs_parse_oneshot(req, req_len);
    if (EFI_ERROR(hpmboot_delete_var(HPMBOOT_VAR(HPM_VAR_ONESHOT))))
      Print(L"hpm: one-shot request ignored: it could not be deleted (it would repeat)\r\n");
    else if (s < 0)
      Print(L"hpm: one-shot request malformed (expected a slot letter a-d); ignored\r\n");
    else {
      oneshot = s;
      Print(L"hpm: one-shot request: slot %c\r\n", (CHAR16)hpm_bs_slot_letter((unsigned)s));
    }
  }

  hpm_bs_checker chk = {NULL, check_slot};
  hpm_bs_selection sel;
  const char *refusal = NULL;
  for (unsigned round = 0; round < HPM_BS_MAX_SLOTS + 1; round++) {
    hpm_bs_decision d = hpm_bs_select(&st, oneshot, &chk, &sel);
    oneshot = -1;
    if (sel.oneshot_refused) Print(L"hpm: one-shot slot refused; normal selection\r\n");
    if (sel.floor_raised) Print(L"hpm: rollback floor re-derived after state loss: %u\r\n", st.floor);

    /* Persist before handing over: the consumed try must survive a hang. */
    bool persisted = true;
    if (!hpm_bs_same(&before, &st) || st.origin != HPM_BS_ORIGIN_LOADED) {
      Print(L"hpm: state: writing copy %d (sequence %lu)\r\n", st.current_copy == 0 ? 1 : 0,
            st.sequence + 1);
      hpm_bs_result w = store_state(&ops, &st);
      persisted = w == HPM_BS_OK;
      if (w != HPM_BS_OK) {
        Print(L"hpm: error: storing the boot state: %a\r\n", hpm_bs_result_to_string(w));
        if (d != HPM_BS_BOOT_GOOD && d != HPM_BS_NOTHING_BOOTABLE) {
          refusal = "the boot attempt could not be recorded, so no slot on trial may boot";
          d = HPM_BS_NOTHING_BOOTABLE;
        }
      } else {
        state_log("written", &st);
        before = st;
      }
    } else {
      Print(L"hpm: state: unchanged, not written\r\n");
    }
    if (mark_present && persisted) {
      (void)hpmboot_delete_var(HPMBOOT_VAR(HPM_VAR_MARK_GOOD));
      mark_present = false;
    }
    hpmboot_publish_state(&st);
    /* Before anything else runs: raise the TPM's copy, then lock it. */
    hpmboot_tpm_floor_commit(&tpm_floor, st.floor);

    if (d == HPM_BS_NOTHING_BOOTABLE || sel.slot < 0) {
      hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_REASON), hpm_bs_decision_to_string(HPM_BS_NOTHING_BOOTABLE));
      return nothing_bootable(&st, refusal);
    }

    unsigned i = (unsigned)sel.slot;
    slot_data *s = &slots[i];
    const hpm_payload *k = payload(&s->m, HPM_PAYLOAD_KERNEL);
    const hpm_payload *rd = payload(&s->m, HPM_PAYLOAD_INITRD);
    const hpm_payload *cl = payload(&s->m, HPM_PAYLOAD_CMDLINE);
    if (!s->verified || k == NULL || k->data == NULL) {
      /* Cannot happen: selection only picks verified slots. Fail closed. */
      return nothing_bootable(&st, "internal error: chosen slot not verified");
    }

    static char cmdline[HPM_NAME_MAX + 4096 + 128];
    hpm_text c = hpm_text_start(cmdline, sizeof cmdline);
    if (cl != NULL) {
      for (uint64_t n = 0; n < cl->size; n++) hpm_text_char(&c, (char)cl->data[n]);
      hpm_text_char(&c, ' ');
    }
    hpm_bootif_write_identity(&c, i, s->m.digest);

    char hex[2 * HPM_DIGEST_LEN + 1], letter[2] = {hpm_bs_slot_letter(i), 0};
    hpm_fmt_hex(s->m.digest, HPM_DIGEST_LEN, hex, sizeof hex);
    hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_SLOT), letter);
    hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_BASELINE), hex);
    hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_VERSION), s->m.version);
    hpmboot_publish_u64(HPMBOOT_VAR(HPM_VAR_BOOT_SVN), s->m.svn);
    hpmboot_publish_u64(HPMBOOT_VAR(HPM_VAR_BOOT_ATTEMPT), sel.attempt);
    hpmboot_publish(HPMBOOT_VAR(HPM_VAR_BOOT_REASON), hpm_bs_decision_to_string(d));

    unsigned total = sel.attempt + st.slots[i].tries;
    if (sel.attempt)
      Print(L"hpm: booting slot %c: baseline %a (svn %u): %a (attempt %u of %u)\r\n",
            (CHAR16)letter[0], s->m.version, s->m.svn, hpm_bs_decision_to_string(d), sel.attempt,
            total);
    else
      Print(L"hpm: booting slot %c: baseline %a (svn %u): %a\r\n", (CHAR16)letter[0],
            s->m.version, s->m.svn, hpm_bs_decision_to_string(d));
    Print(L"hpm: baseline %a\r\n", hex);

    measure(s, k, letter[0], d, sel.attempt, st.floor, hex);

    hpmboot_kernel_keys();
    if (timing.on) bench_report();
    BOOLEAN loaded = FALSE;
    EFI_STATUS hs = hpmboot_handover(self, k->data, (UINTN)k->size, rd ? rd->data : NULL,
                                     rd ? (UINTN)rd->size : 0, cmdline, &loaded);
    Print(L"hpm: slot %c: handover failed: %r\r\n", (CHAR16)letter[0], hs);
    /* The firmware would not load or run the verified kernel: refuse the
     * slot and choose again (each slot is verified at most once). */
    st.slots[i].reason = HPM_BS_REASON_LOAD_FAILED;
    st.slots[i].tries = 0;
    st.slots[i].successful = false;
    hpm_text w = hpm_text_start(s->why, sizeof s->why);
    hpm_text_add(&w, loaded ? "the kernel returned to the boot stage"
                            : "the firmware refused to load the kernel");
  }
  return nothing_bootable(&st, NULL);
}
