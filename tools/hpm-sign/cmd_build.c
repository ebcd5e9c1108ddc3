/* SPDX-License-Identifier: MIT */
/* hpm-sign baseline, hpm-sign hotpatch: build, sign, self-check, write. */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hpm-sign.h"

#define DEFAULT_COMPAT "hpm-generic-x86_64"

/* Sign the built container, check it with core, print what was made. */
static int sign_and_check(const char *cmd, uint8_t **buf, size_t *len, mbedtls_pk_context *pk,
                          const hpm_pubkey *pub, hpm_kind kind, const hpmw_manifest *m) {
  hpmh_status e;
  mem_loader ml = {.payloads = m->payloads, .count = m->payload_count};
  hpm_ops ops = mem_ops(&ml);
  if (!pub) {
    /* --unsigned: nothing to verify yet, but it must parse. */
    hpm_manifest *pm = calloc(1, sizeof *pm);
    hpm_diag d;
    hpm_result r = pm ? hpm_container_parse_unverified(*buf, *len, pm, &d) : HPM_E_OUT_OF_MEMORY;
    free(pm);
    if (r != HPM_OK) {
      msg(cmd, "internal error: the container just built does not parse (%s); nothing was written",
          hpm_result_to_string(r));
      return EXIT_IOERR;
    }
    return 0;
  }
  if (hpmw_sign_container(buf, len, pk, &e)) {
    msg(cmd, "signing failed: %s", e.detail);
    return EXIT_IOERR;
  }
  return self_check(cmd, *buf, *len, kind, pub, &ops);
}

static void print_summary(const uint8_t *buf, size_t len, const char *out, const hpm_pubkey *pub) {
  hpm_manifest *m = calloc(1, sizeof *m);
  hpm_diag d;
  char hex[HEX_DIGEST];
  if (!m) return;
  if (hpm_container_parse_unverified(buf, len, m, &d) == HPM_OK) {
    printf("wrote %s: %s %s, svn %u, %zu payload(s), %zu bytes\n", out, hpm_kind_to_string(m->kind),
           m->version, m->svn, m->payload_count, len);
    printf("digest: %s\n", hex32(m->digest, hex));
    if (pub)
      printf("signed by key %s (%s)\n", hex32(pub->key_id, hex), hpm_alg_to_string(pub->alg));
    else
      printf("unsigned: sign it with 'hpm-sign digest' + 'hpm-sign attach', or 'hpm-sign countersign'\n");
  }
  free(m);
}

/* ---- baseline ---------------------------------------------------------- */

static const char baseline_help[] =
    "Usage: hpm-sign baseline --key KEY.pem|--unsigned --kernel FILE [--initrd FILE] [--cmdline STR]\n"
    "                         --version STR --svn N [--unplanned] [--compat STR]\n"
    "                         [--timestamp N] [--detached] --out FILE\n"
    "Build and sign a baseline: a full OS image booted by hpmboot.efi.\n"
    "\n"
    "  -k, --key KEY.pem      private signing key (P-256 or P-384)\n"
    "      --unsigned         no --key: write the container without a signature, to be\n"
    "                         signed elsewhere ('digest' + 'attach': HSM flow)\n"
    "      --kernel FILE      kernel image (payload 'kernel'), 1 byte .. 1 GiB\n"
    "      --initrd FILE      initial ramdisk (payload 'initrd')\n"
    "      --cmdline STR      kernel command line (payload 'cmdline'): printable ASCII,\n"
    "                         at most 4096 bytes\n"
    "      --version STR      human version, 1-63 printable ASCII characters, no spaces\n"
    "      --svn N            security version (anti-rollback), 0 .. 4294967295\n"
    "      --unplanned        release 'unplanned' (default 'planned')\n"
    "      --compat STR       compatibility string, 1-127 printable ASCII characters, no\n"
    "                         spaces (default " DEFAULT_COMPAT ")\n"
    "      --timestamp N      release time, seconds since 1970-01-01 UTC (default:\n"
    "                         $SOURCE_DATE_EPOCH, else the current time with a note)\n"
    "      --detached         do not embed the payloads: write them beside --out as\n"
    "                         <name>.kernel, <name>.initrd, <name>.cmdline, where <name>\n"
    "                         is the file name of --out without a .hpm suffix\n"
    "  -o, --out FILE         container to write (replaced atomically)\n"
    "  -h, --help             show this help\n"
    "\n"
    "The same inputs, timestamp and key always give the same bytes.\n"
    "\n"
    "Example:\n"
    "  SOURCE_DATE_EPOCH=1700000000 hpm-sign baseline --key release.pem \\\n"
    "      --kernel vmlinuz --initrd initrd.img --cmdline 'console=ttyS0 quiet' \\\n"
    "      --version 2024.05.1 --svn 7 --out slot-a.hpm\n";

enum {
  O_KERNEL = 256,
  O_INITRD,
  O_CMDLINE,
  O_VERSION,
  O_SVN,
  O_UNPLANNED,
  O_COMPAT,
  O_TIMESTAMP,
  O_DETACHED,
  O_BASELINE,
  O_SEQ,
  O_CLASS,
  O_ID,
  O_PAYLOAD,
  O_UNSIGNED,
};

/* Write the detached payload files, then the container.  On failure,
 * remove the payload files this call created. */
static int write_all(const char *cmd, const char *out, const uint8_t *buf, size_t len,
                     const hpmw_payload *pl, size_t n) {
  char dir[4096], path[4200];
  bool created[HPM_MAX_PAYLOADS] = {false};
  int rc = 0;
  size_t i;
  dir_of(out, dir, sizeof dir);
  for (i = 0; i < n && !rc; i++) {
    struct stat st;
    if (!pl[i].file) continue;
    snprintf(path, sizeof path, "%s/%s", dir, pl[i].file);
    created[i] = lstat(path, &st) != 0;
    rc = write_output(cmd, path, pl[i].data, pl[i].size, 0644, 0);
    if (rc) created[i] = false;
  }
  if (!rc) rc = write_output(cmd, out, buf, len, 0644, 0);
  if (rc) {
    for (i = 0; i < n; i++)
      if (created[i]) {
        snprintf(path, sizeof path, "%s/%s", dir, pl[i].file);
        unlink(path);
      }
  }
  return rc;
}

int cmd_baseline(int argc, char **argv) {
  static const struct option opts[] = {
      {"key", required_argument, NULL, 'k'},
      {"kernel", required_argument, NULL, O_KERNEL},
      {"initrd", required_argument, NULL, O_INITRD},
      {"cmdline", required_argument, NULL, O_CMDLINE},
      {"version", required_argument, NULL, O_VERSION},
      {"svn", required_argument, NULL, O_SVN},
      {"unplanned", no_argument, NULL, O_UNPLANNED},
      {"compat", required_argument, NULL, O_COMPAT},
      {"timestamp", required_argument, NULL, O_TIMESTAMP},
      {"detached", no_argument, NULL, O_DETACHED},
      {"unsigned", no_argument, NULL, O_UNSIGNED},
      {"out", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *cmd = "baseline";
  const char *key = NULL, *kernel = NULL, *initrd = NULL, *cmdline = NULL, *version = NULL;
  const char *svn_s = NULL, *compat = NULL, *ts_s = NULL, *out = NULL, *why;
  bool unplanned = false, detached = false, unsigned_ = false;
  char stem[256], files[3][256 + 16];
  uint32_t svn = 0;
  uint64_t ts = 0;
  uint8_t *kbuf = NULL, *ibuf = NULL, *cbuf = NULL;
  size_t klen = 0, ilen = 0, clen = 0;
  hpmw_payload pl[3];
  size_t npl = 0;
  mbedtls_pk_context pk;
  hpm_pubkey pub;
  hpmw_manifest m;
  hpmh_status e;
  int c, rc;

  while ((c = getopt_long(argc, argv, ":k:o:h", opts, NULL)) != -1) {
    switch (c) {
#define ONCE(var, name)                  \
  if (var) return twice(cmd, name);      \
  var = optarg;                          \
  break
      case 'k': ONCE(key, "--key");
      case O_KERNEL: ONCE(kernel, "--kernel");
      case O_INITRD: ONCE(initrd, "--initrd");
      case O_CMDLINE: ONCE(cmdline, "--cmdline");
      case O_VERSION: ONCE(version, "--version");
      case O_SVN: ONCE(svn_s, "--svn");
      case O_COMPAT: ONCE(compat, "--compat");
      case O_TIMESTAMP: ONCE(ts_s, "--timestamp");
      case 'o': ONCE(out, "--out");
#undef ONCE
      case O_UNPLANNED: unplanned = true; break;
      case O_DETACHED: detached = true; break;
      case O_UNSIGNED: unsigned_ = true; break;
      case 'h': fputs(baseline_help, stdout); return EXIT_VALID;
      default: return bad_option(cmd, c, argv);
    }
  }
  if (optind < argc) return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (!key && !unsigned_)
    return usage_error(cmd, "missing --key KEY.pem (the private signing key), or --unsigned to sign later");
  if (key && unsigned_) return usage_error(cmd, "--key and --unsigned exclude each other");
  if (!kernel) return usage_error(cmd, "missing --kernel FILE (the kernel image)");
  if (!version) return usage_error(cmd, "missing --version STR (e.g. --version 2024.05.1)");
  if (!svn_s) return usage_error(cmd, "missing --svn N (the security version, e.g. --svn 1)");
  if (!out) return usage_error(cmd, "missing --out FILE (the container to write)");
  if (!*out) return usage_error(cmd, "--out: empty file name");
  if ((why = check_printable(version, HPM_VERSION_MAX)))
    return usage_error(cmd, "--version '%s' (manifest field 'version') %s", version, why);
  if (!compat) compat = DEFAULT_COMPAT;
  if ((why = check_printable(compat, HPM_COMPAT_MAX)))
    return usage_error(cmd, "--compat '%s' (manifest field 'compat') %s", compat, why);
  if (!parse_u32(svn_s, &svn))
    return usage_error(cmd, "--svn '%s' (manifest field 'svn'): expected an unsigned decimal number 0..4294967295", svn_s);
  if (cmdline) {
    size_t n = strlen(cmdline);
    if (n > CMDLINE_MAX)
      return usage_error(cmd, "--cmdline (payload 'cmdline') is %zu bytes; the limit is 4096", n);
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)cmdline[i] < 0x20 || (unsigned char)cmdline[i] > 0x7e)
        return usage_error(cmd, "--cmdline (payload 'cmdline'): character %zu is not printable ASCII (0x20-0x7e)", i + 1);
  }
  {
    const char *ins[] = {key, kernel, initrd};
    const char *names[] = {"--key", "--kernel", "--initrd"};
    for (int i = 0; i < 3; i++)
      if (same_file(out, ins[i]))
        return usage_error(cmd, "--out %s is the same file as %s; choose another --out", out, names[i]);
  }
  if (detached) {
    const char *base = strrchr(out, '/');
    size_t n;
    base = base ? base + 1 : out;
    n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".hpm")) n -= 4;
    if (n >= sizeof stem) return usage_error(cmd, "--out: file name too long for --detached");
    memcpy(stem, base, n);
    stem[n] = '\0';
    static const char *const sfx[3] = {"kernel", "initrd", "cmdline"};
    for (int i = 0; i < 3; i++) {
      snprintf(files[i], sizeof files[i], "%s.%s", stem, sfx[i]);
      if ((why = check_file_name(files[i])))
        return usage_error(cmd, "--detached: payload file name '%s' (from --out) %s; choose a shorter or plainer --out file name",
                           files[i], why);
    }
  }
  rc = release_timestamp(cmd, ts_s, &ts);
  if (rc) return rc;

  mbedtls_pk_init(&pk);
  if (key) {
    rc = load_private_key(cmd, key, &pk, &pub);
    if (rc) goto done;
  }
  rc = read_input(cmd, "--kernel", kernel, &kbuf, &klen);
  if (rc) goto done;
  if (initrd) {
    rc = read_input(cmd, "--initrd", initrd, &ibuf, &ilen);
    if (rc) goto done;
  }

  pl[npl++] = (hpmw_payload){"kernel", HPM_PAYLOAD_KERNEL, kbuf, klen, detached ? files[0] : NULL};
  if (initrd)
    pl[npl++] = (hpmw_payload){"initrd", HPM_PAYLOAD_INITRD, ibuf, ilen, detached ? files[1] : NULL};
  if (cmdline)
    pl[npl++] = (hpmw_payload){"cmdline", HPM_PAYLOAD_CMDLINE, (const uint8_t *)cmdline,
                               strlen(cmdline), detached ? files[2] : NULL};
  memset(&m, 0, sizeof m);
  m.kind = HPM_KIND_BASELINE;
  m.compat = compat;
  m.version = version;
  m.svn = svn;
  m.timestamp = ts;
  m.release = unplanned ? HPM_RELEASE_UNPLANNED : HPM_RELEASE_PLANNED;
  m.payloads = pl;
  m.payload_count = npl;
  if (hpmw_build(&m, &cbuf, &clen, &e)) {
    msg(cmd, "%s", e.detail);
    rc = EXIT_IOERR;
    goto done;
  }
  rc = sign_and_check(cmd, &cbuf, &clen, &pk, key ? &pub : NULL, HPM_KIND_BASELINE, &m);
  if (!rc) rc = write_all(cmd, out, cbuf, clen, pl, npl);
  if (!rc) print_summary(cbuf, clen, out, key ? &pub : NULL);
done:
  free(kbuf);
  free(ibuf);
  free(cbuf);
  mbedtls_pk_free(&pk);
  return rc;
}

/* ---- hotpatch ---------------------------------------------------------- */

static const char hotpatch_help[] =
    "Usage: hpm-sign hotpatch --key KEY.pem|--unsigned --baseline BASELINE.hpm --seq N\n"
    "                         --classification critical|security|other --id ID\n"
    "                         [--payload [NAME=]FILE]... [--version STR] [--svn N]\n"
    "                         [--compat STR] [--timestamp N] --out FILE\n"
    "Build and sign a hotpatch for exactly one baseline.\n"
    "\n"
    "  -k, --key KEY.pem        private signing key (P-256 or P-384)\n"
    "      --unsigned           no --key: leave it unsigned, for 'digest' + 'attach'\n"
    "      --baseline FILE      the baseline container this hotpatch applies to; its\n"
    "                           digest becomes 'target-baseline'\n"
    "      --seq N              sequence number against that baseline, 1 .. 4294967295\n"
    "      --classification C   critical, security or other\n"
    "      --id ID              KB-style identifier, 1-63 characters of A-Z a-z 0-9 . _ -\n"
    "      --payload [NAME=]FILE  a patch payload (repeatable, at most 32). NAME is the\n"
    "                           payload name, [a-z0-9][a-z0-9._-], at most 31; without\n"
    "                           NAME= it is the file's base name, lower-cased, other\n"
    "                           characters replaced by '_'. Names must be unique.\n"
    "      --version STR        default: <baseline version>+hp<seq>\n"
    "      --svn N              default: the baseline's svn\n"
    "      --compat STR         default: the baseline's compat\n"
    "      --timestamp N        as for 'baseline' (default $SOURCE_DATE_EPOCH, else now)\n"
    "  -o, --out FILE           container to write (replaced atomically)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Example:\n"
    "  hpm-sign hotpatch --key release.pem --baseline slot-a.hpm --seq 3 \\\n"
    "      --classification security --id KB0001234 --payload openssl=fix.bin \\\n"
    "      --out kb0001234.hpm\n";

/* Default payload name from a file path. */
static void sanitize_name(const char *path, char out[HPM_NAME_MAX + 1]) {
  const char *base = strrchr(path, '/');
  size_t o = 0;
  base = base ? base + 1 : path;
  for (const char *p = base; *p && o < HPM_NAME_MAX; p++) {
    char ch = (char)tolower((unsigned char)*p);
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      ch = '_';
    if (o == 0 && !((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) continue;
    out[o++] = ch;
  }
  out[o] = '\0';
}

typedef struct {
  char name[HPM_NAME_MAX + 1];
  const char *path;
  uint8_t *data;
  size_t size;
} patch_in;

int cmd_hotpatch(int argc, char **argv) {
  static const struct option opts[] = {
      {"key", required_argument, NULL, 'k'},
      {"baseline", required_argument, NULL, O_BASELINE},
      {"seq", required_argument, NULL, O_SEQ},
      {"classification", required_argument, NULL, O_CLASS},
      {"id", required_argument, NULL, O_ID},
      {"payload", required_argument, NULL, O_PAYLOAD},
      {"version", required_argument, NULL, O_VERSION},
      {"svn", required_argument, NULL, O_SVN},
      {"compat", required_argument, NULL, O_COMPAT},
      {"timestamp", required_argument, NULL, O_TIMESTAMP},
      {"unsigned", no_argument, NULL, O_UNSIGNED},
      {"out", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *cmd = "hotpatch";
  const char *key = NULL, *base_path = NULL, *seq_s = NULL, *class_s = NULL, *id = NULL;
  const char *version = NULL, *svn_s = NULL, *compat = NULL, *ts_s = NULL, *out = NULL, *why;
  patch_in in[HPM_MAX_PAYLOADS];
  hpmw_payload pl[HPM_MAX_PAYLOADS];
  size_t nin = 0;
  bool unsigned_ = false;
  uint32_t seq = 0, svn = 0;
  uint64_t ts = 0;
  hpm_classification cls = HPM_CLASS_NONE;
  char vbuf[HPM_VERSION_MAX + 64];
  uint8_t *bbuf = NULL, *cbuf = NULL;
  size_t blen = 0, clen = 0;
  hpm_manifest *bm = NULL;
  hpm_diag d;
  hpm_result r;
  mbedtls_pk_context pk;
  hpm_pubkey pub;
  hpmw_manifest m;
  hpmh_status e;
  int c, rc;

  memset(in, 0, sizeof in);
  while ((c = getopt_long(argc, argv, ":k:o:h", opts, NULL)) != -1) {
    switch (c) {
#define ONCE(var, name)                  \
  if (var) return twice(cmd, name);      \
  var = optarg;                          \
  break
      case 'k': ONCE(key, "--key");
      case O_BASELINE: ONCE(base_path, "--baseline");
      case O_SEQ: ONCE(seq_s, "--seq");
      case O_CLASS: ONCE(class_s, "--classification");
      case O_ID: ONCE(id, "--id");
      case O_VERSION: ONCE(version, "--version");
      case O_SVN: ONCE(svn_s, "--svn");
      case O_COMPAT: ONCE(compat, "--compat");
      case O_TIMESTAMP: ONCE(ts_s, "--timestamp");
      case 'o': ONCE(out, "--out");
#undef ONCE
      case O_UNSIGNED: unsigned_ = true; break;
      case O_PAYLOAD: {
        const char *eq = strchr(optarg, '=');
        if (nin == HPM_MAX_PAYLOADS) return usage_error(cmd, "at most %u --payload options", HPM_MAX_PAYLOADS);
        if (eq && eq != optarg && !memchr(optarg, '/', (size_t)(eq - optarg))) {
          size_t n = (size_t)(eq - optarg);
          if (n > HPM_NAME_MAX)
            return usage_error(cmd, "--payload '%s': payload name is longer than 31 characters", optarg);
          memcpy(in[nin].name, optarg, n);
          in[nin].name[n] = '\0';
          if ((why = check_node_name(in[nin].name)))
            return usage_error(cmd, "--payload '%s': payload name '%s' %s", optarg, in[nin].name, why);
          in[nin].path = eq + 1;
        } else {
          in[nin].path = optarg;
          sanitize_name(optarg, in[nin].name);
          if (!in[nin].name[0])
            return usage_error(cmd, "--payload '%s': cannot derive a payload name from the file name; use NAME=FILE", optarg);
        }
        if (!in[nin].path[0]) return usage_error(cmd, "--payload '%s': no file given", optarg);
        for (size_t i = 0; i < nin; i++)
          if (!strcmp(in[i].name, in[nin].name))
            return usage_error(cmd, "--payload %s and --payload %s both get the payload name '%s'; give one a NAME= prefix",
                               in[i].path, in[nin].path, in[nin].name);
        nin++;
        break;
      }
      case 'h': fputs(hotpatch_help, stdout); return EXIT_VALID;
      default: return bad_option(cmd, c, argv);
    }
  }
  if (optind < argc) return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (!key && !unsigned_)
    return usage_error(cmd, "missing --key KEY.pem (the private signing key), or --unsigned to sign later");
  if (key && unsigned_) return usage_error(cmd, "--key and --unsigned exclude each other");
  if (!base_path) return usage_error(cmd, "missing --baseline BASELINE.hpm (the baseline this hotpatch applies to)");
  if (!seq_s) return usage_error(cmd, "missing --seq N (the hotpatch sequence number, from 1)");
  if (!class_s) return usage_error(cmd, "missing --classification critical|security|other");
  if (!id) return usage_error(cmd, "missing --id ID (a KB-style identifier, e.g. KB0001234)");
  if (!out) return usage_error(cmd, "missing --out FILE (the container to write)");
  if (!*out) return usage_error(cmd, "--out: empty file name");
  if (same_file(out, key) || same_file(out, base_path))
    return usage_error(cmd, "--out %s is the same file as %s; choose another --out", out,
                       same_file(out, key) ? "--key" : "--baseline");
  for (size_t i = 0; i < nin; i++)
    if (same_file(out, in[i].path))
      return usage_error(cmd, "--out %s is the same file as --payload %s; choose another --out", out, in[i].path);
  if (!parse_u32(seq_s, &seq) || seq == 0)
    return usage_error(cmd, "--seq '%s' (manifest field 'sequence'): expected a decimal number 1..4294967295", seq_s);
  if (!strcmp(class_s, "critical"))
    cls = HPM_CLASS_CRITICAL;
  else if (!strcmp(class_s, "security"))
    cls = HPM_CLASS_SECURITY;
  else if (!strcmp(class_s, "other"))
    cls = HPM_CLASS_OTHER;
  else
    return usage_error(cmd, "--classification '%s' (manifest field 'classification'): expected critical, security or other", class_s);
  if ((why = check_id(id))) return usage_error(cmd, "--id '%s' (manifest field 'id') %s", id, why);
  if (version && (why = check_printable(version, HPM_VERSION_MAX)))
    return usage_error(cmd, "--version '%s' (manifest field 'version') %s", version, why);
  if (compat && (why = check_printable(compat, HPM_COMPAT_MAX)))
    return usage_error(cmd, "--compat '%s' (manifest field 'compat') %s", compat, why);
  if (svn_s && !parse_u32(svn_s, &svn))
    return usage_error(cmd, "--svn '%s' (manifest field 'svn'): expected an unsigned decimal number 0..4294967295", svn_s);
  rc = release_timestamp(cmd, ts_s, &ts);
  if (rc) return rc;

  mbedtls_pk_init(&pk);
  rc = read_container(cmd, base_path, &bbuf, &blen);
  if (rc) goto done;
  bm = calloc(1, sizeof *bm);
  if (!bm) {
    msg(cmd, "out of memory");
    rc = EXIT_IOERR;
    goto done;
  }
  r = hpm_container_parse_unverified(bbuf, blen, bm, &d);
  if (r != HPM_OK) {
    char why_s[600];
    explain(NULL, r, &d, NULL, NULL, 0, why_s, sizeof why_s);
    msg(cmd, "--baseline %s: not a valid container: %s", base_path, why_s);
    rc = EXIT_REFUSED;
    goto done;
  }
  if (bm->kind != HPM_KIND_BASELINE) {
    msg(cmd, "--baseline %s: is a %s, not a baseline; give the baseline this hotpatch applies to",
        base_path, hpm_kind_to_string(bm->kind));
    rc = EXIT_REFUSED;
    goto done;
  }
  if (!version) {
    snprintf(vbuf, sizeof vbuf, "%s+hp%u", bm->version, seq);
    if (strlen(vbuf) > HPM_VERSION_MAX) {
      rc = usage_error(cmd, "the default version '%s' (baseline version + '+hp<seq>') is longer than 63 characters; pass --version", vbuf);
      goto done;
    }
    version = vbuf;
  }
  if (!svn_s) svn = bm->svn;
  if (!compat) compat = bm->compat;

  if (key) {
    rc = load_private_key(cmd, key, &pk, &pub);
    if (rc) goto done;
  }
  for (size_t i = 0; i < nin; i++) {
    char what[64];
    snprintf(what, sizeof what, "--payload %.31s", in[i].name);
    rc = read_input(cmd, what, in[i].path, &in[i].data, &in[i].size);
    if (rc) goto done;
    pl[i] = (hpmw_payload){in[i].name, HPM_PAYLOAD_PATCH, in[i].data, in[i].size, NULL};
  }
  memset(&m, 0, sizeof m);
  m.kind = HPM_KIND_HOTPATCH;
  m.compat = compat;
  m.version = version;
  m.svn = svn;
  m.timestamp = ts;
  m.classification = cls;
  m.id = id;
  memcpy(m.target_baseline, bm->digest, HPM_DIGEST_LEN);
  m.sequence = seq;
  m.payloads = pl;
  m.payload_count = nin;
  if (hpmw_build(&m, &cbuf, &clen, &e)) {
    msg(cmd, "%s", e.detail);
    rc = EXIT_IOERR;
    goto done;
  }
  rc = sign_and_check(cmd, &cbuf, &clen, &pk, key ? &pub : NULL, HPM_KIND_HOTPATCH, &m);
  if (!rc) rc = write_output(cmd, out, cbuf, clen, 0644, 0);
  if (!rc) {
    char hex[HEX_DIGEST];
    print_summary(cbuf, clen, out, key ? &pub : NULL);
    printf("target baseline: %s (%s %s)\n", hex32(bm->digest, hex), base_path, bm->version);
  }
done:
  for (size_t i = 0; i < nin; i++) free(in[i].data);
  free(bbuf);
  free(cbuf);
  free(bm);
  mbedtls_pk_free(&pk);
  return rc;
}
