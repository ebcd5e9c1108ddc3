/* SPDX-License-Identifier: MIT */
/* hpm-sign baseline, hpm-sign hotpatch: build, sign, self-check, write. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "hpm-sign.h"
#include "payload.h"

/* What both builders share: the signing keys (none: --unsigned) and the
 * container made. */
typedef struct {
  const char *cmd, *out;
  const opt_list *keys;
  signer_set ss;
  uint8_t *buf;
  size_t len;
} build_job;

static void job_start(build_job *j, const char *cmd, const release_args *r) {
  memset(j, 0, sizeof *j);
  j->cmd = cmd;
  j->keys = &r->keys;
  j->out = r->out;
  signers_init(&j->ss);
}

static void job_free(build_job *j) {
  free(j->buf);
  signers_free(&j->ss);
}

static int job_load_key(build_job *j) { return signers_load(j->cmd, &j->ss, j->keys); }

/* Sign the built container and check it with core (--unsigned: it must
 * at least parse). */
static int sign_and_check(build_job *j, const hpmw_manifest *m) {
  hpmh_mem_file files[HPM_MAX_PAYLOADS];
  hpmh_mem_loader ml = {files, 0};
  hpm_ops ops = hpmh_mem_ops(&ml);
  hpmh_status e;
  for (size_t i = 0; i < m->payload_count && i < HPM_MAX_PAYLOADS; i++)
    files[ml.count++] = (hpmh_mem_file){m->payloads[i].file, m->payloads[i].data, m->payloads[i].size};
  if (!j->ss.n) {
    hpm_manifest *pm = calloc(1, sizeof *pm);
    hpm_diag d;
    hpm_result r = pm ? hpm_container_parse_unverified(j->buf, j->len, pm, &d) : HPM_E_OUT_OF_MEMORY;
    free(pm);
    if (r != HPM_OK) {
      msg(j->cmd, "internal error: the container just built does not parse (%s); nothing was written",
          hpm_result_to_string(r));
      return EXIT_IOERR;
    }
    return 0;
  }
  if (signers_sign(&j->ss, &j->buf, &j->len, &e)) {
    msg(j->cmd, "signing failed: %s", e.detail);
    return EXIT_IOERR;
  }
  hpm_trust all = signers_trust(&j->ss);
  return self_check(j->cmd, j->buf, j->len, m->kind, &all, &ops);
}

static void print_summary(const build_job *j) {
  hpm_manifest *m = calloc(1, sizeof *m);
  hpm_diag d;
  char hex[HEX_DIGEST];
  if (!m) return;
  if (hpm_container_parse_unverified(j->buf, j->len, m, &d) == HPM_OK) {
    printf("wrote %s: %s %s, svn %u, %zu payload(s), %zu bytes\n", j->out, hpm_kind_to_string(m->kind),
           m->version, m->svn, m->payload_count, j->len);
    printf("digest: %s\n", hex32(m->digest, hex));
    for (size_t i = 0; i < j->ss.n; i++)
      printf("signed by key %s (%s)\n", hex32(j->ss.pubs[i].key_id, hex), hpm_alg_to_string(j->ss.pubs[i].alg));
    if (!j->ss.n)
      printf("unsigned: sign it with 'hpm-sign digest' + 'hpm-sign attach', or 'hpm-sign countersign'\n");
  }
  free(m);
}

/* Build m, sign, self-check, write (detached payloads first), summarize. */
static int build_and_write(build_job *j, const hpmw_manifest *m) {
  hpmh_status e;
  int rc;
  if (hpmw_build(m, &j->buf, &j->len, &e)) {
    msg(j->cmd, "%s", e.detail);
    return EXIT_IOERR;
  }
  rc = sign_and_check(j, m);
  if (!rc) rc = write_with_payloads(j->cmd, j->out, j->buf, j->len, m->payloads, m->payload_count);
  if (!rc) print_summary(j);
  return rc;
}

/* --version and --compat (manifest fields of every kind), then --svn. */
static int check_release_fields(const char *cmd, const char *version, const char *compat,
                                const char *svn_s, uint32_t *svn) {
  const char *why;
  if (version && (why = check_printable(version, HPM_VERSION_MAX)))
    return usage_error(cmd, "--version '%s' (manifest field 'version') %s", version, why);
  if (compat && (why = check_printable(compat, HPM_COMPAT_MAX)))
    return usage_error(cmd, "--compat '%s' (manifest field 'compat') %s", compat, why);
  if (svn_s && hpmh_parse_u32(svn_s, svn))
    return usage_error(cmd, "--svn '%s' (manifest field 'svn'): expected an unsigned decimal number 0..4294967295", svn_s);
  return 0;
}

/* ---- baseline ---------------------------------------------------------- */

static const char baseline_help[] =
    "Usage: hpm-sign baseline --key KEY.pem|URI|--unsigned --kernel FILE [--initrd FILE] [--cmdline STR]\n"
    "                         --version STR --svn N [--unplanned] [--compat STR]\n"
    "                         [--timestamp N] [--detached] --out FILE\n"
    "Build and sign a baseline: a full OS image booted by hpmboot.efi.\n"
    "\n"
    "  -k, --key KEY.pem|URI  private signing key (P-256 or P-384): a file, or a\n"
    "                         pkcs11: URI of a key in a token (HSM), e.g.\n"
    "                         'pkcs11:token=release;object=release-key;type=private'\n"
    "                         (PIN: $HPM_PKCS11_PIN or ?pin-source=file:PATH; module:\n"
    "                         $HPM_PKCS11_MODULE, default " HPM_PKCS11_DEFAULT_MODULE ").\n"
    "                         Repeatable (at most 16): every key signs, in order\n"
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

static int check_cmdline(const char *cmd, const char *cmdline) {
  size_t n = strlen(cmdline);
  if (n > CMDLINE_MAX)
    return usage_error(cmd, "--cmdline (payload 'cmdline') is %zu bytes; the limit is 4096", n);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)cmdline[i] < 0x20 || (unsigned char)cmdline[i] > 0x7e)
      return usage_error(cmd, "--cmdline (payload 'cmdline'): character %zu is not printable ASCII (0x20-0x7e)", i + 1);
  return 0;
}

/* --detached: the payload file names, from the file name of --out. */
static int detached_names(const char *cmd, const char *out, char files[3][256 + 16]) {
  static const char *const sfx[3] = {"kernel", "initrd", "cmdline"};
  const char *base = strrchr(out, '/'), *why;
  size_t n;
  base = base ? base + 1 : out;
  n = strlen(base);
  if (n > 4 && !strcmp(base + n - 4, ".hpm")) n -= 4;
  if (n >= 256) return usage_error(cmd, "--out: file name too long for --detached");
  for (int i = 0; i < 3; i++) {
    snprintf(files[i], sizeof files[i], "%.*s.%s", (int)n, base, sfx[i]);
    if ((why = hpmh_file_name_problem(files[i])))
      return usage_error(cmd, "--detached: payload file name '%s' (from --out) %s; choose a shorter or plainer --out file name",
                         files[i], why);
  }
  return 0;
}

int cmd_baseline(int argc, char **argv) {
  const char *cmd = "baseline";
  const char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *version = NULL, *svn_s = NULL;
  bool unplanned = false, detached = false;
  release_args r = RELEASE_ARGS_INIT(r);
  const opt_spec opts[] = {
      RELEASE_OPTS(r),
      {"kernel", 0, OPT_VALUE, .dest = &kernel, .missing = "missing --kernel FILE (the kernel image)"},
      {"initrd", 0, OPT_VALUE, .dest = &initrd},
      {"cmdline", 0, OPT_VALUE, .dest = &cmdline},
      {"version", 0, OPT_VALUE, .dest = &version, .missing = "missing --version STR (e.g. --version 2024.05.1)"},
      {"svn", 0, OPT_VALUE, .dest = &svn_s, .missing = "missing --svn N (the security version, e.g. --svn 1)"},
      {"unplanned", 0, OPT_FLAG, .dest = &unplanned},
      {"detached", 0, OPT_FLAG, .dest = &detached},
      {"out", 'o', OPT_VALUE, .dest = &r.out, .missing = "missing --out FILE (the container to write)", .nonempty = true},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = baseline_help, .opts = opts};
  char files[3][256 + 16];
  uint32_t svn = 0;
  uint8_t *kbuf = NULL, *ibuf = NULL;
  size_t klen = 0, ilen = 0;
  hpmw_payload pl[3];
  hpmw_manifest m;
  build_job j;
  int rc;

  if ((rc = parse_release(&spec, &r, argc, argv)) != GO_ON) return rc;
  if (!r.compat) r.compat = DEFAULT_COMPAT;
  if ((rc = check_release_fields(cmd, version, r.compat, svn_s, &svn))) return rc;
  if (cmdline && (rc = check_cmdline(cmd, cmdline))) return rc;
  {
    const char *ins[] = {kernel, initrd}, *names[] = {"--kernel", "--initrd"};
    for (int i = 0; i < 2; i++)
      if (same_file(r.out, ins[i]))
        return usage_error(cmd, "--out %s is the same file as %s; choose another --out", r.out, names[i]);
  }
  if ((rc = check_out_not_key(cmd, &r))) return rc;
  if (detached && (rc = detached_names(cmd, r.out, files))) return rc;

  memset(&m, 0, sizeof m);
  rc = release_timestamp(cmd, r.ts_s, &m.timestamp);
  if (rc) return rc;
  job_start(&j, cmd, &r);
  if ((rc = job_load_key(&j)) || (rc = read_input(cmd, "--kernel", kernel, &kbuf, &klen)) ||
      (initrd && (rc = read_input(cmd, "--initrd", initrd, &ibuf, &ilen))))
    goto done;

  pl[m.payload_count++] = (hpmw_payload){"kernel", HPM_PAYLOAD_KERNEL, kbuf, klen, detached ? files[0] : NULL};
  if (initrd)
    pl[m.payload_count++] = (hpmw_payload){"initrd", HPM_PAYLOAD_INITRD, ibuf, ilen, detached ? files[1] : NULL};
  if (cmdline)
    pl[m.payload_count++] = (hpmw_payload){"cmdline", HPM_PAYLOAD_CMDLINE, (const uint8_t *)cmdline,
                                           strlen(cmdline), detached ? files[2] : NULL};
  m.kind = HPM_KIND_BASELINE;
  m.compat = r.compat;
  m.version = version;
  m.svn = svn;
  m.release = unplanned ? HPM_RELEASE_UNPLANNED : HPM_RELEASE_PLANNED;
  m.payloads = pl;
  rc = build_and_write(&j, &m);
done:
  free(kbuf);
  free(ibuf);
  job_free(&j);
  return rc;
}

/* ---- hotpatch ---------------------------------------------------------- */

static const char hotpatch_help[] =
    "Usage: hpm-sign hotpatch --key KEY.pem|URI|--unsigned --baseline BASELINE.hpm --seq N\n"
    "                         --classification critical|security|other --id ID\n"
    "                         [--payload [NAME=]FILE]... [--kernel-module FILE.ko\n"
    "                         --kernel-build-id HEX [--kernel-release R]\n"
    "                         [--kernel-sign-key KMOD.key --kernel-sign-cert KMOD.crt]]\n"
    "                         [--version STR] [--svn N]\n"
    "                         [--compat STR] [--timestamp N] --out FILE\n"
    "Build and sign a hotpatch for exactly one baseline.\n"
    "\n"
    "  -k, --key KEY.pem|URI    private signing key (P-256 or P-384): a file or a\n"
    "                           pkcs11: URI (as for 'baseline'); repeatable\n"
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
    "      --kernel-module FILE.ko  the kernel part: a cumulative livepatch module built\n"
    "                           against the baseline's kernel (tools/kpatch-template);\n"
    "                           payload 'livepatch', its .modinfo name and vermagic\n"
    "                           signed into the manifest\n"
    "      --kernel-build-id HEX  the GNU build-id of the baseline's kernel, as\n"
    "                           /sys/kernel/notes shows it\n"
    "      --kernel-release R   default: the first word of the module's vermagic; if\n"
    "                           given, must equal it\n"
    "      --kernel-sign-key KMOD.key  sign the module in the kernel's module-signature\n"
    "                           format (PKCS#7, SHA-256) with this RSA key, so that a\n"
    "                           kernel in lockdown (Secure Boot) loads it; the manifest\n"
    "                           then signs the signed module.  Without it the module\n"
    "                           is left unsigned (a warning says so)\n"
    "      --kernel-sign-cert KMOD.crt  the X.509 certificate of that key, the one\n"
    "                           hpmboot.efi hands to the kernel (HPM_KERNEL_CERTS)\n"
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

typedef struct {
  char name[HPM_NAME_MAX + 1];
  const char *path;
  uint8_t *data;
  size_t size;
} patch_in;

typedef struct {
  patch_in in[HPM_MAX_PAYLOADS];
  size_t n;
} patch_list;

/* Default payload name from a file path: its base name, lower-cased, other
 * characters replaced by '_', leading ones dropped until a name can start. */
static void default_name(const char *path, char out[HPM_NAME_MAX + 1]) {
  const char *base = strrchr(path, '/');
  size_t o = 0;
  base = base ? base + 1 : path;
  for (const char *p = base; *p && o < HPM_NAME_MAX; p++) {
    char ch = (char)tolower((unsigned char)*p);
    if (!hpm_name_char_ok(ch, false, HPM_NAME_PAYLOAD)) ch = '_';
    if (o == 0 && !hpm_name_char_ok(ch, true, HPM_NAME_PAYLOAD)) continue;
    out[o++] = ch;
  }
  out[o] = '\0';
}

/* --payload [NAME=]FILE, checked as it is met. */
static int add_payload(const char *cmd, const char *arg, void *dest) {
  patch_list *l = dest;
  patch_in *p = &l->in[l->n];
  const char *eq = strchr(arg, '='), *why;
  if (l->n == HPM_MAX_PAYLOADS) return usage_error(cmd, "at most %u --payload options", HPM_MAX_PAYLOADS);
  if (eq && eq != arg && !memchr(arg, '/', (size_t)(eq - arg))) {
    size_t n = (size_t)(eq - arg);
    if (n > HPM_NAME_MAX) return usage_error(cmd, "--payload '%s': payload name is longer than 31 characters", arg);
    memcpy(p->name, arg, n);
    p->name[n] = '\0';
    if ((why = check_node_name(p->name)))
      return usage_error(cmd, "--payload '%s': payload name '%s' %s", arg, p->name, why);
    p->path = eq + 1;
  } else {
    p->path = arg;
    default_name(arg, p->name);
    if (!p->name[0])
      return usage_error(cmd, "--payload '%s': cannot derive a payload name from the file name; use NAME=FILE", arg);
  }
  if (!p->path[0]) return usage_error(cmd, "--payload '%s': no file given", arg);
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->in[i].name, p->name))
      return usage_error(cmd, "--payload %s and --payload %s both get the payload name '%s'; give one a NAME= prefix",
                         l->in[i].path, p->path, p->name);
  l->n++;
  return 0;
}

/* Read and check the --baseline container; *bm gets its parse. */
static int load_baseline(const char *cmd, const char *path, uint8_t **buf, size_t *len, hpm_manifest *bm) {
  hpm_diag d;
  hpm_result r;
  if (read_container(cmd, path, buf, len)) return EXIT_IOERR;
  if ((r = hpm_container_parse_unverified(*buf, *len, bm, &d)) != HPM_OK) {
    not_a_container(cmd, "--baseline ", path, r, &d);
    return EXIT_REFUSED;
  }
  if (bm->kind != HPM_KIND_BASELINE) {
    msg(cmd, "--baseline %s: is a %s, not a baseline; give the baseline this hotpatch applies to",
        path, hpm_kind_to_string(bm->kind));
    return EXIT_REFUSED;
  }
  return 0;
}

int cmd_hotpatch(int argc, char **argv) {
  const char *cmd = "hotpatch";
  const char *base_path = NULL, *seq_s = NULL, *class_s = NULL, *id = NULL, *version = NULL, *svn_s = NULL, *why;
  const char *ko_path = NULL, *kbuild_id = NULL, *krelease = NULL, *ksign_key = NULL, *ksign_cert = NULL;
  uint8_t *ko = NULL;
  size_t ko_len = 0;
  hpm_kernel_part kpart;
  release_args r = RELEASE_ARGS_INIT(r);
  patch_list in = {.n = 0};
  const opt_spec opts[] = {
      RELEASE_OPTS(r),
      {"baseline", 0, OPT_VALUE, .dest = &base_path,
       .missing = "missing --baseline BASELINE.hpm (the baseline this hotpatch applies to)"},
      {"seq", 0, OPT_VALUE, .dest = &seq_s, .missing = "missing --seq N (the hotpatch sequence number, from 1)"},
      {"classification", 0, OPT_VALUE, .dest = &class_s, .missing = "missing --classification critical|security|other"},
      {"id", 0, OPT_VALUE, .dest = &id, .missing = "missing --id ID (a KB-style identifier, e.g. KB0001234)"},
      {"payload", 0, OPT_CALL, .dest = &in, .call = add_payload},
      {"kernel-module", 0, OPT_VALUE, .dest = &ko_path, .nonempty = true},
      {"kernel-build-id", 0, OPT_VALUE, .dest = &kbuild_id},
      {"kernel-release", 0, OPT_VALUE, .dest = &krelease},
      {"kernel-sign-key", 0, OPT_VALUE, .dest = &ksign_key, .nonempty = true},
      {"kernel-sign-cert", 0, OPT_VALUE, .dest = &ksign_cert, .nonempty = true},
      {"version", 0, OPT_VALUE, .dest = &version},
      {"svn", 0, OPT_VALUE, .dest = &svn_s},
      {"out", 'o', OPT_VALUE, .dest = &r.out, .missing = "missing --out FILE (the container to write)", .nonempty = true},
      {0},
  };
  const cmd_spec spec = {.cmd = cmd, .help = hotpatch_help, .opts = opts};
  hpmw_payload pl[HPM_MAX_PAYLOADS];
  uint32_t seq = 0, svn = 0;
  int cls;
  char vbuf[HPM_VERSION_MAX + 64], hex[HEX_DIGEST];
  uint8_t *bbuf = NULL;
  size_t blen = 0;
  hpm_manifest *bm = NULL;
  hpmw_manifest m;
  build_job j;
  int rc;

  if ((rc = parse_release(&spec, &r, argc, argv)) != GO_ON) return rc;
  if ((rc = check_out_not_key(cmd, &r))) return rc;
  if (same_file(r.out, base_path))
    return usage_error(cmd, "--out %s is the same file as --baseline; choose another --out", r.out);
  for (size_t i = 0; i < in.n; i++)
    if (same_file(r.out, in.in[i].path))
      return usage_error(cmd, "--out %s is the same file as --payload %s; choose another --out", r.out, in.in[i].path);
  if (hpmh_parse_u32(seq_s, &seq) || seq == 0)
    return usage_error(cmd, "--seq '%s' (manifest field 'sequence'): expected a decimal number 1..4294967295", seq_s);
  if ((cls = word_index(class_s, classification_words, 3)) < 0)
    return usage_error(cmd, "--classification '%s' (manifest field 'classification'): expected critical, security or other", class_s);
  if ((why = check_id(id))) return usage_error(cmd, "--id '%s' (manifest field 'id') %s", id, why);
  if ((rc = check_release_fields(cmd, version, r.compat, svn_s, &svn))) return rc;
  if (in.n == 0 && !ko_path)
    return usage_error(cmd, "missing --payload FILE or --kernel-module FILE.ko (a hotpatch carries at least one part)");
  if (!ko_path && (kbuild_id || krelease))
    return usage_error(cmd, "--kernel-build-id and --kernel-release describe a --kernel-module; give one");
  if (!ko_path && (ksign_key || ksign_cert))
    return usage_error(cmd, "--kernel-sign-key and --kernel-sign-cert sign a --kernel-module; give one");
  if (!ksign_key != !ksign_cert)
    return usage_error(cmd, "%s without %s: give the RSA key and its certificate together",
                       ksign_key ? "--kernel-sign-key" : "--kernel-sign-cert",
                       ksign_key ? "--kernel-sign-cert" : "--kernel-sign-key");
  if (ko_path && in.n == HPM_MAX_PAYLOADS)
    return usage_error(cmd, "%u --payload options and a --kernel-module are more than %u payloads", HPM_MAX_PAYLOADS,
                       HPM_MAX_PAYLOADS);
  for (size_t i = 0; ko_path && i < in.n; i++)
    if (!strcmp(in.in[i].name, "livepatch"))
      return usage_error(cmd, "--payload %s: the name 'livepatch' is the --kernel-module's; choose another NAME=",
                         in.in[i].path);
  memset(&m, 0, sizeof m);
  if ((rc = release_timestamp(cmd, r.ts_s, &m.timestamp))) return rc;

  job_start(&j, cmd, &r);
  bm = calloc(1, sizeof *bm);
  if (!bm) {
    rc = out_of_memory(cmd);
    goto done;
  }
  if ((rc = load_baseline(cmd, base_path, &bbuf, &blen, bm))) goto done;
  if (!version) {
    snprintf(vbuf, sizeof vbuf, "%s+hp%u", bm->version, seq);
    if (strlen(vbuf) > HPM_VERSION_MAX) {
      rc = usage_error(cmd, "the default version '%s' (baseline version + '+hp<seq>') is longer than 63 characters; pass --version", vbuf);
      goto done;
    }
    version = vbuf;
  }
  if (!svn_s) svn = bm->svn;
  if (!r.compat) r.compat = bm->compat;
  if ((rc = job_load_key(&j))) goto done;
  for (size_t i = 0; i < in.n; i++) {
    char what[64];
    patch_in *p = &in.in[i];
    snprintf(what, sizeof what, "--payload %.31s", p->name);
    if ((rc = read_input(cmd, what, p->path, &p->data, &p->size))) goto done;
    /* what hosts will parse, checked before anything is signed */
    hpp_payload pp;
    char bad[160];
    hpp_result pr = hpp_parse(p->data, p->size, &pp, bad, sizeof bad);
    if (pr != HPP_OK) {
      msg(cmd, "--payload %s (%s): not a hotpatch payload (%s: %s); build it with hpm-patchgen", p->name, p->path,
          hpp_result_to_string(pr), bad);
      rc = EXIT_REFUSED;
      goto done;
    }
    pl[i] = (hpmw_payload){p->name, HPM_PAYLOAD_PATCH, p->data, p->size, NULL};
  }
  if (ko_path) {
    if ((rc = load_kernel_part(cmd, ko_path, kbuild_id, krelease, seq, &ko, &ko_len, &kpart))) goto done;
    if (ksign_key) {
      if ((rc = kmod_sign(cmd, ksign_key, ksign_cert, ko_path, &ko, &ko_len))) goto done;
    } else {
      msg(cmd, "warning: --kernel-module %s is not signed for the kernel (no --kernel-sign-key): a kernel in "
               "lockdown (Secure Boot) will refuse to load it", ko_path);
    }
    pl[in.n] = (hpmw_payload){"livepatch", HPM_PAYLOAD_LIVEPATCH, ko, ko_len, NULL};
    m.kernel = &kpart;
  }
  m.kind = HPM_KIND_HOTPATCH;
  m.compat = r.compat;
  m.version = version;
  m.svn = svn;
  m.classification = (hpm_classification)(cls + 1);
  m.id = id;
  memcpy(m.target_baseline, bm->digest, HPM_DIGEST_LEN);
  m.sequence = seq;
  m.payloads = pl;
  m.payload_count = in.n + (ko_path != NULL);
  rc = build_and_write(&j, &m);
  if (!rc) printf("target baseline: %s (%s %s)\n", hex32(bm->digest, hex), base_path, bm->version);
done:
  for (size_t i = 0; i < in.n; i++) free(in.in[i].data);
  free(ko);
  free(bbuf);
  free(bm);
  job_free(&j);
  return rc;
}
