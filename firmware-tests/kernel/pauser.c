/* SPDX-License-Identifier: MIT */
/* Sleeps in pause(2) until a signal ends it (test_kernel_hotpatch.py). */
#include <unistd.h>

int main(void) {
  for (;;) pause();
}
