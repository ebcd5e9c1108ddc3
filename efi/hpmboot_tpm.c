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
 * The kernel is measured by the firmware's LoadImage (PCR 4, the verified
 * buffer) and the initrd by the Linux EFI stub (PCR 9, the bytes hpm's
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
  VOID *SubmitCommand, *GetActivePcrBanks, *SetActivePcrBanks, *GetResultOfSetActivePcrBanks;
} tcg2;

static EFI_GUID tcg2_guid = EFI_TCG2_PROTOCOL_GUID;

#define EV_IPL 0x0000000Du
#define EVENT_TEXT_MAX 512

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

/* One event: hash `data`, extend HPMBOOT_PCR, log `text` as the event data. */
static EFI_STATUS extend(tcg2 *t, const void *data, UINTN len, const char *text) {
  static UINT8 buf[sizeof(tcg2_event) + EVENT_TEXT_MAX];
  UINTN n = 0;
  while (text[n]) n++;
  if (n > EVENT_TEXT_MAX) return EFI_BAD_BUFFER_SIZE;
  tcg2_event *ev = (tcg2_event *)buf;
  ev->Size = (UINT32)(sizeof(tcg2_event) + n);
  ev->Header.HeaderSize = sizeof(tcg2_event_header);
  ev->Header.HeaderVersion = 1;
  ev->Header.PCRIndex = HPMBOOT_PCR;
  ev->Header.EventType = EV_IPL;
  CopyMem(ev->Event, (VOID *)text, n);
  return uefi_call_wrapper(t->HashLogExtendEvent, 5, t, 0ULL,
                           (EFI_PHYSICAL_ADDRESS)(UINTN)data, (UINT64)len, ev);
}

EFI_STATUS hpmboot_measure(const uint8_t *tbs, UINTN tbs_len, const char *baseline_text,
                           const char *decision_text, char *outcome, UINTN outcome_size) {
  tcg2 *t = find_tpm();
  const char *msg;
  EFI_STATUS st = EFI_SUCCESS;
  if (t == NULL) {
    msg = "absent";
    st = EFI_NOT_FOUND;
  } else {
    st = extend(t, tbs, tbs_len, baseline_text);
    if (EFI_ERROR(st)) {
      msg = "error: extending the baseline event failed";
    } else {
      st = extend(t, decision_text, strlena((CHAR8 *)decision_text), decision_text);
      msg = EFI_ERROR(st) ? "error: extending the decision event failed"
                          : "measured pcr=" HPMBOOT_PCR_TEXT " events=2";
    }
  }
  UINTN i = 0;
  for (; msg[i] && i + 1 < outcome_size; i++) outcome[i] = msg[i];
  if (outcome_size) outcome[i] = 0;
  return st;
}
