/* SPDX-License-Identifier: MIT */
/* The demo hotpatch: the corrected tax (19 %) and a new version string.
 * demo/map names which function each replaces. */
long quote_tax_fixed(long cents) { return cents * 19 / 100; }
const char *quote_version_fixed(void) { return "v2 (hotpatched)"; }
