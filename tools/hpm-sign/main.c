/* SPDX-License-Identifier: MIT */
/*
 * hpm-sign: keys, signing, verification and inspection of hpm containers
 * (docs/hpm-sign.md).  Release-engineering tool; never runs on hosts.
 */
#include <string.h>

#include "hpm-sign.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"keygen", cmd_keygen, "generate a signing key pair (P-256 or P-384)"},
    {"keyid", cmd_keyid, "print the key ID of a public (or private) key"},
    {"baseline", cmd_baseline, "build and sign a baseline (kernel, initrd, command line)"},
    {"hotpatch", cmd_hotpatch, "build and sign a hotpatch bound to one baseline"},
    {"verify", cmd_verify, "verify a container against trusted keys"},
    {"inspect", cmd_inspect, "show every field of a container"},
    {"digest", cmd_digest, "print (and write) exactly the bytes to sign, for HSM/openssl signing"},
    {"attach", cmd_attach, "check and append a signature made elsewhere"},
    {"countersign", cmd_countersign, "add a further signature (m-of-n sign-off)"},
    {"catalog", cmd_catalog, "build and sign a catalog of baselines and hotpatches"},
    {"build", cmd_release_build, "build one of the above from a reviewed release file (--from FILE)"},
};

static void usage(FILE *f) {
  fprintf(f,
          "Usage: hpm-sign COMMAND [OPTIONS]...\n"
          "Build, sign, verify and inspect hpm containers (baselines, hotpatches, catalogs).\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n"
          "Run 'hpm-sign COMMAND --help' for the options of a command.\n"
          "\n"
          "Exit status:\n"
          "  0  success (for verify: the container is valid)\n"
          "  1  verification failed, or the request was refused\n"
          "  2  usage error (bad option or argument value)\n"
          "  3  I/O or other error (unreadable input, unwritable output)\n"
          "\n"
          "Documentation: docs/hpm-sign.md; format: docs/format.md.\n");
}

int main(int argc, char **argv) {
  const char *name;
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    if (!strcmp(name, "help") && argc > 2) {
      for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[2], commands[i].name)) {
          char *av[] = {argv[2], (char *)"--help", NULL};
          getopt_reset();
          return commands[i].run(2, av);
        }
      return usage_error(NULL, "unknown command '%s'", argv[2]);
    }
    usage(stdout);
    return EXIT_VALID;
  }
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
    printf("hpm-sign %s (container format %u)\n", HPM_PROJECT_VERSION, HPM_FORMAT_VERSION);
    return EXIT_VALID;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(name, commands[i].name)) {
      getopt_reset();
      return commands[i].run(argc - 1, argv + 1);
    }
  if (name[0] == '-') return usage_error(NULL, "unknown option %s; a command comes first", name);
  return usage_error(NULL, "unknown command '%s'", name);
}
