/* SPDX-License-Identifier: MIT */
/* Shared between the hpmboot.efi sources (docs/boot-interface.md). */
#ifndef HPM_EFI_HPMBOOT_H
#define HPM_EFI_HPMBOOT_H

#include <efi.h>
#include <efilib.h>

#include "hpm/bootif.h"
#include "hpm/bootstate.h"
#include "hpm/core.h"

/* A variable name of the boot interface (HPM_VAR_*, hpm/bootif.h) as the
 * UCS-2 string the firmware takes. */
#define HPMBOOT_VAR(name) (L"" name)

/* Trusted baseline keys, generated at build time from HPM_TRUST_KEYS. */
typedef struct {
  const uint8_t *der; /* DER SubjectPublicKeyInfo */
  size_t len;
  const char *name;   /* the .pub file it came from */
} hpmboot_key;

extern const hpmboot_key hpmboot_trusted_keys[];
extern const size_t hpmboot_trusted_key_count;
extern const unsigned hpmboot_trust_threshold;
extern const char hpmboot_version[];
/* Kernel module signing certificates (DER X.509), generated at build time
 * from HPM_KERNEL_CERTS; count may be 0. */
extern const hpmboot_key hpmboot_kernel_certs[];
extern const size_t hpmboot_kernel_cert_count;

/* efi/hpmboot_mok.c: hand hpmboot_kernel_certs to the kernel's machine
 * keyring as shim hands over MOK keys (MOK variable table and volatile
 * MokListRT, MokListTrustedRT); deletes non-volatile variables of those
 * names.  Never fails the boot: warns. */
void hpmboot_kernel_keys(void);

/* efi/hpmboot_vars.c: the boot interface's variables (vendor GUID). */
extern EFI_GUID hpmboot_guid;
hpm_bs_result hpmboot_state_read(void *ctx, unsigned copy, uint8_t *buf, size_t *len);
EFI_STATUS hpmboot_set_var(const CHAR16 *name, UINT32 attrs, const void *data, UINTN len);
hpm_bs_result hpmboot_state_write(void *ctx, unsigned copy, const uint8_t *buf, size_t len);
bool hpmboot_read_request(const CHAR16 *name, uint8_t *buf, UINTN *len);
EFI_STATUS hpmboot_delete_var(const CHAR16 *name);
void hpmboot_publish(const CHAR16 *name, const char *text);
void hpmboot_publish_u64(const CHAR16 *name, uint64_t v);
void hpmboot_publish_state(const hpm_bootstate *st);

/* efi/hpmboot_handover.c: LoadImage the verified kernel, serve the
 * verified initrd through LINUX_EFI_INITRD_MEDIA_GUID LoadFile2, start it.
 * Returns only on failure; *loaded tells whether LoadImage accepted it. */
EFI_STATUS hpmboot_handover(EFI_HANDLE parent, const uint8_t *kernel, UINTN kernel_len,
                            const uint8_t *initrd, UINTN initrd_len, const char *cmdline,
                            BOOLEAN *loaded);

/* efi/hpmboot_secboot.c: what the firmware says about Secure Boot, and the
 * scoped exception for the verified kernel (docs/boot-interface.md). */
typedef enum { HPMBOOT_SB_OFF, HPMBOOT_SB_ON, HPMBOOT_SB_SETUP } hpmboot_sb_state;
hpmboot_sb_state hpmboot_secure_boot_state(void);
const char *hpmboot_sb_state_to_string(hpmboot_sb_state s);
/* Between begin and end, the firmware's image check answers "allowed" for
 * one image whose bytes equal buf[0..len) and defers everything else to
 * the firmware.  end() restores the firmware's check and returns how many
 * times the exception was used (0 or 1). */
void hpmboot_sb_allow_begin(const uint8_t *buf, UINTN len);
unsigned hpmboot_sb_allow_end(void);

/* efi/hpmboot_tpm.c: measured boot.  The PCR hpm extends. */
#define HPMBOOT_PCR 8
#define HPMBOOT_PCR_TEXT "8"
/* Extend HPMBOOT_PCR with the baseline event (digest of tbs = header ||
 * manifest; event data baseline_text) then the decision event (digest and
 * event data decision_text), then PCR 4 with the kernel (Authenticode hash
 * of the verified buffer, EV_EFI_BOOT_SERVICES_APPLICATION).  outcome
 * receives the HpmBootTpm text; *st the firmware's status on failure (the
 * events before the failed one are logged). */
typedef enum { HPMBOOT_TPM_MEASURED, HPMBOOT_TPM_ABSENT, HPMBOOT_TPM_FAILED } hpmboot_tpm_result;
hpmboot_tpm_result hpmboot_measure(const uint8_t *tbs, UINTN tbs_len, const char *baseline_text,
                                   const char *decision_text, const uint8_t *kernel,
                                   UINTN kernel_len, EFI_STATUS *st, char *outcome,
                                   UINTN outcome_size);

/* Whether the firmware offers TCG2 with a TPM present. */
bool hpmboot_tpm_present(void);
/* One raw TPM 2.0 command through TCG2 SubmitCommand: cmd[0..cmd_len) in,
 * the response in rsp[0..*rsp_len), *rsp_len set to its length (from the
 * response header, checked against the buffer).  EFI_NOT_FOUND: no TPM. */
EFI_STATUS hpmboot_tpm_submit(const uint8_t *cmd, UINTN cmd_len, uint8_t *rsp, UINTN *rsp_len);

/* efi/hpmboot_tpmnv.c: the floor kept in a TPM NV index as well
 * (docs/boot-interface.md "TPM floor", hpm/tpmnv.h). */
typedef struct {
  bool backed;   /* the index is ours and readable: floor counts */
  bool writable; /* not write-locked: commit may raise it */
  bool written;  /* it holds a floor record */
  uint32_t floor;
} hpmboot_tpm_floor;
/* Read (defining the index when the TPM has none); logs one line. */
void hpmboot_tpm_floor_load(hpmboot_tpm_floor *f);
/* Raise the index to floor when it is lower, then write-lock it until the
 * next TPM reset; logs what it did.  Never lowers it. */
void hpmboot_tpm_floor_commit(hpmboot_tpm_floor *f, uint32_t floor);

#endif
