/* SPDX-License-Identifier: MIT */
/* The release of hpm's programs (hpm, hpm-sign, hpm-patchgen): --version. */
#ifndef HPMH_VERSION_H
#define HPMH_VERSION_H

#define HPM_PROJECT_VERSION "0.1.0"

#endif
