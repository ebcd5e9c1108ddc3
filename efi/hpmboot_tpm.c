/* SPDX-License-Identifier: MIT */
/*
 * Measured boot (docs/boot-interface.md "Measured boot"): when the firmware
 * offers EFI_TCG2_PROTOCOL with a TPM present, hpmboot.efi extends
 * HPMBOOT_PCR with two events, logged in the TCG event log, right before
 * the handover:
 *
 *   1. EV_IPL "hpm.baseline ...": the digest extended is the hash of the
 *      signed bytes header || manifest, so its SHA-256 is the container
 *      digest `hpm-sign inspect` prints.
 *   2. EV_IPL "hpm.decision slot=.. svn=.. reason=..": the digest extended
 *      is the hash of that text itself.
 *
 * and PCR 4 with the kernel, as the firmware logs any boot application
 * (EV_EFI_BOOT_SERVICES_APPLICATION, the firmware's Authenticode hash of
 * the verified in-memory buffer, PE_COFF_IMAGE).  The firmware does not
 * measure it itself: LoadImage from a buffer has no device path, and hpm's
 * Secure Boot exception answers for that buffer without the firmware's
 * handler chain (efi/hpmboot_secboot.c).  The initrd is measured by the
 * Linux EFI stub (PCR 9, EV_EVENT_TAG "Linux initrd", the bytes hpm's
 * LoadFile2 serves: the verified buffer).
 */
#include "hpmboot.h"

#define EFI_TCG2_PROTOCOL_GUID \
  {0x607f766c, 0x7455, 0x42be, {0x93, 0x0b, 0xe4, 0xd7, 0x6d, 0xb2, 0x72, 0x0f}}

typedef struct {
  UINT8 major, minor;
} tcg2_version;

/* Not packed: the TCG EFI Protocol spec gives it natural alignment. */
typedef struct {
  UINT8 Size;
  tcg2_version StructureVersion;
  tcg2_version ProtocolVersion;
  UINT32 HashAlgorithmBitmap;
  UINT32 SupportedEventLogs;
  BOOLEAN TPMPresentFlag;
  UINT16 MaxCommandSize;
  UINT16 MaxResponseSize;
  UINT32 ManufacturerID;
  UINT32 NumberOfPcrBanks;
  UINT32 ActivePcrBanks;
} tcg2_capability;
_Static_assert(sizeof(tcg2_capability) == 36, "EFI_TCG2_BOOT_SERVICE_CAPABILITY layout");

#pragma pack(push, 1)
typedef struct {
  UINT32 HeaderSize;
  UINT16 HeaderVersion;
  UINT32 PCRIndex;
  UINT32 EventType;
} tcg2_event_header;

typedef struct {
  UINT32 Size;
  tcg2_event_header Header;
  UINT8 Event[];
} tcg2_event;
#pragma pack(pop)

struct tcg2;
typedef struct tcg2 {
  EFI_STATUS(EFIAPI *GetCapability)(struct tcg2 *this, tcg2_capability *cap);
  VOID *GetEventLog;
  EFI_STATUS(EFIAPI *HashLogExtendEvent)(struct tcg2 *this, UINT64 flags,
                                         EFI_PHYSICAL_ADDRESS data, UINT64 len,
                                         tcg2_event *event);
  EFI_STATUS(EFIAPI *SubmitCommand)(struct tcg2 *this, UINT32 in_size, UINT8 *in,
                                    UINT32 out_size, UINT8 *out);
  VOID *GetActivePcrBanks, *SetActivePcrBanks, *GetResultOfSetActivePcrBanks;
} tcg2;

static EFI_GUID tcg2_guid = EFI_TCG2_PROTOCOL_GUID;

#define EV_IPL 0x0000000Du
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define PE_COFF_IMAGE 0x10ULL
#define KERNEL_PCR 4
#define EVENT_DATA_MAX 512

/* TCG PC Client PFP: the event data of a boot application. */
typedef struct {
  EFI_PHYSICAL_ADDRESS ImageLocationInMemory;
  UINT64 ImageLengthInMemory;
  UINT64 ImageLinkTimeAddress;
  UINT64 LengthOfDevicePath;
} image_load_event;

static tcg2 *find_tpm(void) {
  tcg2 *t = NULL;
  EFI_STATUS st = uefi_call_wrapper(BS->LocateProtocol, 3, &tcg2_guid, NULL, (VOID **)&t);
  if (EFI_ERROR(st) || t == NULL) return NULL;
  tcg2_capability cap;
  SetMem(&cap, sizeof cap, 0);
  cap.Size = (UINT8)sizeof cap;
  st = uefi_call_wrapper(t->GetCapability, 2, t, &cap);
  if (EFI_ERROR(st) || !cap.TPMPresentFlag) return NULL;
  return t;
}

bool hpmboot_tpm_present(void) { return find_tpm() != NULL; }

EFI_STATUS hpmboot_tpm_submit(const uint8_t *cmd, UINTN cmd_len, uint8_t *rsp, UINTN *rsp_len) {
  tcg2 *t = find_tpm();
  if (t == NULL) return EFI_NOT_FOUND;
  if (cmd_len < 10 || cmd_len > 0xFFFF || *rsp_len < 10 || *rsp_len > 0xFFFF)
    return EFI_BAD_BUFFER_SIZE;
  SetMem(rsp, *rsp_len, 0);
  EFI_STATUS st = uefi_call_wrapper(t->SubmitCommand, 5, t, (UINT32)cmd_len, (UINT8 *)cmd,
                                    (UINT32)*rsp_len, rsp);
  if (EFI_ERROR(st)) return st;
  /* The firmware does not return the response length: the TPM's header
   * (tag, then its big-endian size) says it; it must fit the buffer. */
  UINT32 n = (UINT32)rsp[2] << 24 | (UINT32)rsp[3] << 16 | (UINT32)rsp[4] << 8 | rsp[5];
  if (n < 10 || n > *rsp_len) return EFI_PROTOCOL_ERROR;
  *rsp_len = n;
  return EFI_SUCCESS;
}

/* One event: hash data[0..len) (flags: PE_COFF_IMAGE for an Authenticode
 * hash), extend pcr, log ev[0..ev_len) as the event data. */
static EFI_STATUS extend(tcg2 *t, UINT32 pcr, UINT32 type, UINT64 flags, const void *data,
                         UINTN len, const void *ev_data, UINTN ev_len) {
  static UINT8 buf[sizeof(tcg2_event) + EVENT_DATA_MAX];
  if (ev_len > EVENT_DATA_MAX) return EFI_BAD_BUFFER_SIZE;
  tcg2_event *ev = (tcg2_event *)buf;
  ev->Size = (UINT32)(sizeof(tcg2_event) + ev_len);
  ev->Header.HeaderSize = sizeof(tcg2_event_header);
  ev->Header.HeaderVersion = 1;
  ev->Header.PCRIndex = pcr;
  ev->Header.EventType = type;
  CopyMem(ev->Event, (VOID *)ev_data, ev_len);
  return uefi_call_wrapper(t->HashLogExtendEvent, 5, t, flags,
                           (EFI_PHYSICAL_ADDRESS)(UINTN)data, (UINT64)len, ev);
}

static EFI_STATUS extend_text(tcg2 *t, const void *data, UINTN len, const char *text) {
  return extend(t, HPMBOOT_PCR, EV_IPL, 0, data, len, text, strlena((CHAR8 *)text));
}

static void set_text(char *out, UINTN size, const char *msg) {
  hpm_text t = hpm_text_start(out, size);
  hpm_text_add(&t, msg);
}

hpmboot_tpm_result hpmboot_measure(const uint8_t *tbs, UINTN tbs_len, const char *baseline_text,
                                   const char *decision_text, const uint8_t *kernel,
                                   UINTN kernel_len, EFI_STATUS *st, char *outcome,
                                   UINTN outcome_size) {
  *st = EFI_SUCCESS;
  tcg2 *t = find_tpm();
  if (t == NULL) {
    set_text(outcome, outcome_size, "absent");
    return HPMBOOT_TPM_ABSENT;
  }
  const char *msg = NULL;
  *st = extend_text(t, tbs, tbs_len, baseline_text);
  if (EFI_ERROR(*st)) {
    msg = "error: extending the baseline event failed";
  } else {
    *st = extend_text(t, decision_text, strlena((CHAR8 *)decision_text), decision_text);
    if (EFI_ERROR(*st)) msg = "error: extending the decision event failed";
  }
  if (msg == NULL) {
    image_load_event le = {(EFI_PHYSICAL_ADDRESS)(UINTN)kernel, kernel_len, 0, 0};
    *st = extend(t, KERNEL_PCR, EV_EFI_BOOT_SERVICES_APPLICATION, PE_COFF_IMAGE, kernel,
                 kernel_len, &le, sizeof le);
    if (EFI_ERROR(*st)) msg = "error: extending the kernel event failed";
  }
  if (msg != NULL) {
    set_text(outcome, outcome_size, msg);
    return HPMBOOT_TPM_FAILED;
  }
  set_text(outcome, outcome_size, "measured pcr=" HPMBOOT_PCR_TEXT ",4 events=3");
  return HPMBOOT_TPM_MEASURED;
}
