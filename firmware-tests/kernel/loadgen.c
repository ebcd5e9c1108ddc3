// SPDX-License-Identifier: MIT
/*
 * The busy user-space load of bench/kernel_bench.py: reads /proc/version
 * (the function the bench's livepatch replaces) as fast as it can and,
 * every 50 ms, prints "L <CLOCK_BOOTTIME ms> <reads in that bucket>" --
 * the clock /proc/uptime shows, so the guest's shell can timestamp hpm's
 * operations on the same axis.  Runs until killed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_BOOTTIME, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(void) {
  char buf[512];
  long long bucket = now_ms() / 50, reads = 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (;;) {
    int fd = open("/proc/version", O_RDONLY);
    if (fd >= 0) {
      if (read(fd, buf, sizeof buf) > 0) reads++;
      close(fd);
    }
    long long b = now_ms() / 50;
    if (b != bucket) {
      printf("L %lld %lld\n", bucket * 50, reads);
      bucket = b;
      reads = 0;
    }
  }
}
