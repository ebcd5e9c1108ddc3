/* SPDX-License-Identifier: MIT */
/*
 * The kernel part of `hpm-sign hotpatch` (docs/kernel-hotpatch.md): a
 * livepatch module read, checked as hosts will check it, and described for
 * the manifest (release, build-id, vermagic, module name).
 */
#include <stdlib.h>
#include <string.h>

#include "hpm-sign.h"
#include "kmod.h"

int load_kernel_part(const char *cmd, const char *ko_path, const char *build_id_hex, const char *release,
                     uint32_t seq, uint8_t **data, size_t *size, hpm_kernel_part *k) {
  hpmh_kmod_info info;
  char why[200], rel[HPM_KRELEASE_MAX + 1];
  size_t hl;
  int rc;

  memset(k, 0, sizeof *k);
  if (!build_id_hex)
    return usage_error(cmd, "--kernel-module needs --kernel-build-id HEX (the kernel's GNU build-id, as "
                            "/sys/kernel/notes shows it; tools/kpatch-template/kernel-build-id prints it)");
  hl = strlen(build_id_hex);
  if (hl == 0 || hl % 2 || hl / 2 > HPM_KBUILD_ID_MAX || hpmh_parse_hex(build_id_hex, k->build_id, hl / 2))
    return usage_error(cmd, "--kernel-build-id '%s': expected 2 to 128 hex digits", build_id_hex);
  k->build_id_len = hl / 2;
  if ((rc = read_input(cmd, "--kernel-module", ko_path, data, size))) return rc;
  if (hpmh_kmod_parse(*data, *size, &info, why, sizeof why)) {
    msg(cmd, "--kernel-module %s: not a kernel module hosts accept: %s", ko_path, why);
    return EXIT_REFUSED;
  }
  if (!info.livepatch) {
    msg(cmd, "--kernel-module %s: module %s is not a livepatch (no livepatch=Y in .modinfo); build it with "
             "tools/kpatch-template/build.sh", ko_path, info.name);
    return EXIT_REFUSED;
  }
  if (info.sequence && info.sequence != seq) {
    msg(cmd, "--kernel-module %s: built as sequence %u (.modinfo hpm_sequence) but --seq is %u; rebuild it "
             "with --sequence %u", ko_path, info.sequence, seq, seq);
    return EXIT_REFUSED;
  }
  if (hpmh_vermagic_release(info.vermagic, rel, sizeof rel)) {
    msg(cmd, "--kernel-module %s: .modinfo vermagic '%s' does not start with a kernel release", ko_path, info.vermagic);
    return EXIT_REFUSED;
  }
  if (release && strcmp(release, rel) != 0) {
    msg(cmd, "--kernel-module %s: built for kernel %s (vermagic), not --kernel-release %s; build it against the "
             "headers of %s", ko_path, rel, release, release);
    return EXIT_REFUSED;
  }
  memcpy(k->release, rel, sizeof rel);
  memcpy(k->vermagic, info.vermagic, sizeof k->vermagic);
  memcpy(k->module, info.name, sizeof k->module);
  return 0;
}
