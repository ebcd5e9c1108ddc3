/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the three parsers of `hpm setup`
 * (runtime/boot/setup_parse.c): its record on the ESP, efibootmgr's
 * listing of the firmware's boot entries, and the key record of a boot
 * image (its PE section table and `.hpmkeys` section).  Beyond "no crash": a record that
 * parses names only paths under EFI/hpm or EFI/hpmboot (what --remove may
 * delete), and writing it back and parsing that gives the same record.
 */
#include <stdlib.h>
#include <string.h>

#include "boot/setup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static setup_record r, r2;
  static char text[SETUP_RECORD_MAX + 1];
  hpmh_status st;
  if (!setup_record_parse((const char *)data, size, &r, &st)) {
    for (size_t i = 0; i < r.nfiles; i++)
      if (strncmp(r.files[i].path, "EFI/hpm/", 8) && strncmp(r.files[i].path, SETUP_DIR "/", sizeof SETUP_DIR))
        abort();
    size_t n = setup_record_write(&r, text, sizeof text);
    if (!n || setup_record_parse(text, n, &r2, &st) || memcmp(&r, &r2, sizeof r)) abort();
  }
  static setup_bootlist b;
  if (!setup_bootlist_parse((const char *)data, size, SETUP_IMAGE_FW, "", &b)) {
    if (b.norder > SETUP_MAX_ORDER || b.nfound > sizeof b.found / sizeof b.found[0]) abort();
    for (size_t i = 0; i < b.nfound; i++)
      if (strlen(b.found[i]) != 4) abort();
  }
  static setup_image_keys k;
  if (!setup_image_keys_parse(data, size, &k, &st)) {
    if (k.count < 1 || k.count > SETUP_IMAGE_MAX_KEYS || k.threshold < 1 || k.threshold > k.count) abort();
    for (size_t i = 0; i < k.count; i++)
      if (k.keys[i].der < data || k.keys[i].len > size || k.keys[i].der + k.keys[i].len > data + size) abort();
  }
  return 0;
}
