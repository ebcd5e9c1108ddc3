/* SPDX-License-Identifier: MIT */
/*
 * Shadow variables for hotpatch code (docs/hotpatch-authoring.md, "New
 * state: shadow variables"), the escape kpatch offers for new per-object
 * state: a fix that needs a new field in an existing object (a counter per
 * connection, a flag per request) cannot change the struct, which code
 * that is not replaced still uses, so it attaches the field to the object
 * by address instead:
 *
 *     struct conn_extra { int strikes; };
 *     struct conn_extra *x = hpm_shadow_get_or_alloc(conn, CONN_EXTRA, sizeof *x);
 *     if (x && ++x->strikes > 3) return -1;
 *     ...
 *     hpm_shadow_free(conn, CONN_EXTRA);      (where the object is freed)
 *
 * Include this header in the patch code (the diff mode: the patch adds it
 * to the tree beside the unit, or the compile command finds it with -I).
 * It is self-contained on purpose: no libc, no symbol of the target; its
 * table lives in the payload's writable data, one per process and per
 * translation unit of patch code (shadows attached in one unit are not
 * seen from another), and its memory comes from anonymous mappings made
 * with the mmap system call.  Thread-safe (one spin lock).  The state
 * lives as long as the hotpatch's code: a revert, or the next (cumulative)
 * hotpatch, starts without it.
 */
#ifndef HPM_SHADOW_H
#define HPM_SHADOW_H

#include <stddef.h>

#define HPM_SHADOW_BUCKETS 1024
#define HPM_SHADOW_CHUNK (1u << 20)

struct hpm_shadow_node_ {
  struct hpm_shadow_node_ *next;
  const void *obj;
  unsigned long id;
  size_t size;
  _Alignas(16) unsigned char data[];
};

/* All of it is one variable: the diff mode lets exactly this new writable
 * variable into a payload. */
static struct {
  int lock;
  struct hpm_shadow_node_ *bucket[HPM_SHADOW_BUCKETS];
  struct hpm_shadow_node_ *freed; /* reused first fit */
  unsigned char *chunk;
  size_t used;
} hpm_shadow_state_;

static inline void hpm_shadow_lock_(void) {
  while (__atomic_exchange_n(&hpm_shadow_state_.lock, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
}
static inline void hpm_shadow_unlock_(void) { __atomic_store_n(&hpm_shadow_state_.lock, 0, __ATOMIC_RELEASE); }

static inline void *hpm_shadow_mmap_(size_t len) {
  long r;
  register long flags __asm__("r10") = 0x22; /* MAP_PRIVATE | MAP_ANONYMOUS */
  register long fd __asm__("r8") = -1;
  register long off __asm__("r9") = 0;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "0"(9L /* mmap */), "D"(0L), "S"(len), "d"(3L /* PROT_READ | PROT_WRITE */), "r"(flags),
                     "r"(fd), "r"(off)
                   : "rcx", "r11", "memory");
  return r < 0 && r > -4096 ? NULL : (void *)r;
}

static inline unsigned hpm_shadow_hash_(const void *obj, unsigned long id) {
  unsigned long h = ((unsigned long)obj >> 4) * 0x9e3779b97f4a7c15ul ^ id * 0xc2b2ae3d27d4eb4ful;
  return (unsigned)(h >> 40) % HPM_SHADOW_BUCKETS;
}

static inline struct hpm_shadow_node_ **hpm_shadow_find_(const void *obj, unsigned long id) {
  struct hpm_shadow_node_ **p = &hpm_shadow_state_.bucket[hpm_shadow_hash_(obj, id)];
  while (*p && ((*p)->obj != obj || (*p)->id != id)) p = &(*p)->next;
  return p;
}

/* The shadow variable id of obj, or NULL. */
static inline __attribute__((unused)) void *hpm_shadow_get(const void *obj, unsigned long id) {
  hpm_shadow_lock_();
  struct hpm_shadow_node_ *n = *hpm_shadow_find_(obj, id);
  hpm_shadow_unlock_();
  return n ? n->data : NULL;
}

/* The shadow variable id of obj: the existing one, or a new one of size
 * zeroed bytes (16-byte aligned); NULL when out of memory, or when the
 * existing one is smaller than size. */
static inline __attribute__((unused)) void *hpm_shadow_get_or_alloc(const void *obj, unsigned long id, size_t size) {
  if (size > HPM_SHADOW_CHUNK - sizeof(struct hpm_shadow_node_)) return NULL;
  size_t need = (sizeof(struct hpm_shadow_node_) + size + 15) & ~(size_t)15;
  hpm_shadow_lock_();
  struct hpm_shadow_node_ **at = hpm_shadow_find_(obj, id), *n = *at;
  if (n) {
    hpm_shadow_unlock_();
    return n->size >= size ? n->data : NULL;
  }
  for (struct hpm_shadow_node_ **f = &hpm_shadow_state_.freed; *f; f = &(*f)->next)
    if ((*f)->size >= size) {
      n = *f;
      *f = n->next;
      break;
    }
  if (!n) {
    if (!hpm_shadow_state_.chunk || hpm_shadow_state_.used + need > HPM_SHADOW_CHUNK) {
      unsigned char *c = hpm_shadow_mmap_(HPM_SHADOW_CHUNK);
      if (!c) { hpm_shadow_unlock_(); return NULL; }
      hpm_shadow_state_.chunk = c;
      hpm_shadow_state_.used = 0;
    }
    n = (struct hpm_shadow_node_ *)(hpm_shadow_state_.chunk + hpm_shadow_state_.used);
    hpm_shadow_state_.used += need;
    n->size = size;
  }
  void *d = n->data; /* rep stosb: a loop could become a call of memset, which patch code may not have */
  size_t c = n->size;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(c) : "a"(0) : "memory");
  n->obj = obj;
  n->id = id;
  n->next = NULL;
  *at = n;
  hpm_shadow_unlock_();
  return n->data;
}

/* Detach the shadow variable id of obj, if it has one (its memory is reused). */
static inline __attribute__((unused)) void hpm_shadow_free(const void *obj, unsigned long id) {
  hpm_shadow_lock_();
  struct hpm_shadow_node_ **at = hpm_shadow_find_(obj, id), *n = *at;
  if (n) {
    *at = n->next;
    n->next = hpm_shadow_state_.freed;
    hpm_shadow_state_.freed = n;
  }
  hpm_shadow_unlock_();
}

#endif
