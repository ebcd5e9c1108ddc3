/* SPDX-License-Identifier: MIT */
/* TPM 2.0 NV commands and responses for the TPM-backed floor (hpm/tpmnv.h).
 * Byte order on the wire is big-endian (TPM 2.0 Part 1, 18). */
#include "hpm/tpmnv.h"

#include "hpm/sysdeps.h"

#define ST_NO_SESSIONS 0x8001u
#define ST_SESSIONS 0x8002u
#define CC_NV_DEFINE_SPACE 0x0000012Au
#define CC_NV_WRITE 0x00000137u
#define CC_NV_WRITE_LOCK 0x00000138u
#define CC_NV_READ 0x0000014Eu
#define CC_NV_READ_PUBLIC 0x00000169u
#define RH_OWNER 0x40000001u
#define RS_PW 0x40000009u
#define ALG_SHA256 0x000Bu
#define HEADER_LEN 10u
#define NAME_MAX_LEN 2u + 64u
#define POLICY_MAX_LEN 64u

const char *hpm_tpmnv_result_to_string(hpm_tpmnv_result r) {
  switch (r) {
    case HPM_TPMNV_OK: return "ok";
    case HPM_TPMNV_ABSENT: return "no such index";
    case HPM_TPMNV_TPM_ERROR: return "the TPM returned an error";
    case HPM_TPMNV_MALFORMED: return "malformed response";
    case HPM_TPMNV_FOREIGN: return "an index with other attributes or size holds the handle";
    case HPM_TPMNV_BAD_DATA: return "the index does not hold an hpm floor record";
    case HPM_TPMNV_NO_ROOM: return "command buffer too small";
  }
  return "unknown";
}

/* ---- commands ------------------------------------------------------------ */

typedef struct {
  uint8_t *buf;
  size_t cap, len;
  bool overflow;
} out_buf;

static void put(out_buf *o, uint32_t v, unsigned bytes) {
  if (o->overflow || o->cap - o->len < bytes) {
    o->overflow = true;
    return;
  }
  for (unsigned i = 0; i < bytes; i++) o->buf[o->len++] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static out_buf start(uint8_t *buf, size_t cap, uint16_t tag, uint32_t cc) {
  out_buf o = {buf, buf ? cap : 0, 0, buf == NULL};
  put(&o, tag, 2);
  put(&o, 0, 4); /* size, set by finish() */
  put(&o, cc, 4);
  return o;
}

/* The password session with an empty auth value. */
static void put_pw_session(out_buf *o) {
  put(o, 9, 4);     /* authorizationSize */
  put(o, RS_PW, 4); /* sessionHandle */
  put(o, 0, 2);     /* nonce: empty */
  put(o, 0, 1);     /* sessionAttributes */
  put(o, 0, 2);     /* hmac: the empty password */
}

static size_t finish(out_buf *o) {
  if (o->overflow) return 0;
  for (unsigned i = 0; i < 4; i++) o->buf[2 + i] = (uint8_t)(o->len >> (8 * (3 - i)));
  return o->len;
}

size_t hpm_tpmnv_cmd_read_public(uint8_t *buf, size_t cap) {
  out_buf o = start(buf, cap, ST_NO_SESSIONS, CC_NV_READ_PUBLIC);
  put(&o, HPM_TPMNV_INDEX, 4);
  return finish(&o);
}

size_t hpm_tpmnv_cmd_read(uint8_t *buf, size_t cap) {
  out_buf o = start(buf, cap, ST_SESSIONS, CC_NV_READ);
  put(&o, HPM_TPMNV_INDEX, 4); /* authHandle: the index's own auth */
  put(&o, HPM_TPMNV_INDEX, 4);
  put_pw_session(&o);
  put(&o, HPM_TPMNV_SIZE, 2);
  put(&o, 0, 2); /* offset */
  return finish(&o);
}

size_t hpm_tpmnv_cmd_define(uint8_t *buf, size_t cap) {
  out_buf o = start(buf, cap, ST_SESSIONS, CC_NV_DEFINE_SPACE);
  put(&o, RH_OWNER, 4);
  put_pw_session(&o);
  put(&o, 0, 2);  /* auth: the index's auth value stays empty */
  put(&o, 14, 2); /* TPM2B_NV_PUBLIC size */
  put(&o, HPM_TPMNV_INDEX, 4);
  put(&o, ALG_SHA256, 2);
  put(&o, HPM_TPMNV_ATTRS, 4);
  put(&o, 0, 2); /* authPolicy: empty, so no policy can administer it */
  put(&o, HPM_TPMNV_SIZE, 2);
  return finish(&o);
}

size_t hpm_tpmnv_cmd_write(uint8_t *buf, size_t cap, uint32_t floor) {
  out_buf o = start(buf, cap, ST_SESSIONS, CC_NV_WRITE);
  put(&o, HPM_TPMNV_INDEX, 4);
  put(&o, HPM_TPMNV_INDEX, 4);
  put_pw_session(&o);
  put(&o, HPM_TPMNV_SIZE, 2);
  for (unsigned i = 0; i < 4; i++) put(&o, (uint8_t)HPM_TPMNV_MAGIC[i], 1);
  put(&o, floor, 4);
  put(&o, 0, 2); /* offset */
  return finish(&o);
}

size_t hpm_tpmnv_cmd_write_lock(uint8_t *buf, size_t cap) {
  out_buf o = start(buf, cap, ST_SESSIONS, CC_NV_WRITE_LOCK);
  put(&o, HPM_TPMNV_INDEX, 4);
  put(&o, HPM_TPMNV_INDEX, 4);
  put_pw_session(&o);
  return finish(&o);
}

/* ---- responses ----------------------------------------------------------- */

typedef struct {
  const uint8_t *p;
  size_t len, off;
  bool bad;
} in_buf;

static uint32_t get(in_buf *in, unsigned bytes) {
  if (in->bad || in->len - in->off < bytes) {
    in->bad = true;
    return 0;
  }
  uint32_t v = 0;
  for (unsigned i = 0; i < bytes; i++) v = v << 8 | in->p[in->off++];
  return v;
}

static const uint8_t *take(in_buf *in, size_t n) {
  if (in->bad || in->len - in->off < n) {
    in->bad = true;
    return NULL;
  }
  const uint8_t *p = in->p + in->off;
  in->off += n;
  return p;
}

/* TPM_RC_HANDLE in format 1 (any handle/parameter number). */
static bool rc_is_handle(uint32_t rc) {
  return (rc & 0x80u) != 0 && (rc & 0x3Fu) == 0x0Bu;
}

/* The header: tag, a size equal to len, the code.  On OK the reader stands
 * after the header with the tag in *tag. */
static hpm_tpmnv_result header(in_buf *in, uint32_t *rc, uint16_t *tag) {
  *rc = 0;
  if (in->p == NULL) return HPM_TPMNV_MALFORMED;
  *tag = (uint16_t)get(in, 2);
  uint32_t size = get(in, 4);
  uint32_t code = get(in, 4);
  if (in->bad || size != in->len) return HPM_TPMNV_MALFORMED;
  *rc = code;
  if (code != 0) {
    if (*tag != ST_NO_SESSIONS || in->len != HEADER_LEN) return HPM_TPMNV_MALFORMED;
    return rc_is_handle(code) ? HPM_TPMNV_ABSENT : HPM_TPMNV_TPM_ERROR;
  }
  if (*tag != ST_NO_SESSIONS && *tag != ST_SESSIONS) return HPM_TPMNV_MALFORMED;
  return HPM_TPMNV_OK;
}

/* A response to a command with one session: parameterSize, the parameters
 * (returned, *plen long), then one response auth area that ends the
 * response. */
static const uint8_t *session_params(in_buf *in, uint16_t tag, size_t *plen) {
  if (tag != ST_SESSIONS) {
    in->bad = true;
    return NULL;
  }
  uint32_t n = get(in, 4);
  const uint8_t *params = take(in, n);
  *plen = n;
  uint32_t nonce = get(in, 2);
  (void)take(in, nonce);
  (void)get(in, 1); /* sessionAttributes */
  uint32_t hmac = get(in, 2);
  (void)take(in, hmac);
  if (in->bad || in->off != in->len) {
    in->bad = true;
    return NULL;
  }
  return params;
}

hpm_tpmnv_result hpm_tpmnv_parse_read_public(const uint8_t *rsp, size_t len,
                                             hpm_tpmnv_public *pub, uint32_t *rc) {
  in_buf in = {rsp, len, 0, false};
  uint16_t tag = 0;
  hpm_tpmnv_result r = header(&in, rc, &tag);
  if (r != HPM_TPMNV_OK) return r;
  if (tag != ST_NO_SESSIONS) return HPM_TPMNV_MALFORMED;
  uint32_t pub_size = get(&in, 2);
  size_t pub_start = in.off;
  uint32_t index = get(&in, 4);
  uint32_t name_alg = get(&in, 2);
  uint32_t attrs = get(&in, 4);
  uint32_t policy_len = get(&in, 2);
  if (policy_len > POLICY_MAX_LEN) return HPM_TPMNV_MALFORMED;
  (void)take(&in, policy_len);
  uint32_t data_size = get(&in, 2);
  if (in.bad || in.off - pub_start != pub_size) return HPM_TPMNV_MALFORMED;
  uint32_t name_len = get(&in, 2);
  if (name_len > NAME_MAX_LEN) return HPM_TPMNV_MALFORMED;
  (void)take(&in, name_len);
  if (in.bad || in.off != in.len) return HPM_TPMNV_MALFORMED;
  if (pub != NULL) {
    pub->attributes = attrs;
    pub->size = (uint16_t)data_size;
    pub->written = (attrs & HPM_TPMA_NV_WRITTEN) != 0;
    pub->locked = (attrs & HPM_TPMA_NV_WRITELOCKED) != 0;
  }
  if (index != HPM_TPMNV_INDEX || name_alg != ALG_SHA256 ||
      (attrs & ~(uint32_t)HPM_TPMNV_STATE_BITS) != HPM_TPMNV_ATTRS || policy_len != 0 ||
      data_size != HPM_TPMNV_SIZE)
    return HPM_TPMNV_FOREIGN;
  return HPM_TPMNV_OK;
}

hpm_tpmnv_result hpm_tpmnv_parse_read(const uint8_t *rsp, size_t len, uint32_t *floor,
                                      uint32_t *rc) {
  in_buf in = {rsp, len, 0, false};
  uint16_t tag = 0;
  hpm_tpmnv_result r = header(&in, rc, &tag);
  if (r != HPM_TPMNV_OK) return r;
  size_t plen = 0;
  const uint8_t *params = session_params(&in, tag, &plen);
  if (params == NULL) return HPM_TPMNV_MALFORMED;
  in_buf p = {params, plen, 0, false};
  uint32_t n = get(&p, 2);
  const uint8_t *data = take(&p, n);
  if (p.bad || p.off != p.len) return HPM_TPMNV_MALFORMED;
  if (n != HPM_TPMNV_SIZE || memcmp(data, HPM_TPMNV_MAGIC, 4) != 0) return HPM_TPMNV_BAD_DATA;
  uint32_t v = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7];
  if (floor != NULL) *floor = v;
  return HPM_TPMNV_OK;
}

hpm_tpmnv_result hpm_tpmnv_parse_status(const uint8_t *rsp, size_t len, uint32_t *rc) {
  in_buf in = {rsp, len, 0, false};
  uint16_t tag = 0;
  hpm_tpmnv_result r = header(&in, rc, &tag);
  if (r != HPM_TPMNV_OK) return r;
  size_t plen = 0;
  if (session_params(&in, tag, &plen) == NULL || plen != 0) return HPM_TPMNV_MALFORMED;
  return HPM_TPMNV_OK;
}
