/*
 * libFuzzer harness for the wire protocol: bytes go through the frame reader
 * (fed in chunks whose size the first input byte chooses), and every frame
 * through the validating decoder and the request and response schema checks.
 * The rest of the input is also decoded directly as one frame payload. A
 * decoded request must satisfy the schema it was checked against (and its
 * page arguments, read for every listing, their bounds), or the harness
 * aborts. The bytes are also decoded as a cursor.
 */
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "wire/frame.h"
#include "wire/proto.h"

static void check_request_invariants(const struct wire_request *req) {
  if (wire_op_name(req->opcode) == NULL || strcmp(wire_op_name(req->opcode), req->op) != 0 ||
      req->args == NULL || req->args->type != MSGPACK_OBJECT_MAP)
    abort();
  for (const struct wire_arg_spec *a = wire_op_args(req->opcode); a->key; a++) {
    const msgpack_object *o = wire_map_get(req->args, a->key);
    if (!o) {
      if (a->required)
        abort();
      continue;
    }
    char buf[1100];
    uint64_t u;
    bool b;
    const uint8_t *p;
    size_t n;
    const msgpack_object *m;
    int r = 0;
    switch (a->type) {
    case WIRE_T_STR: r = wire_get_str(req->args, a->key, buf, sizeof(buf)); break;
    case WIRE_T_HEX32: r = wire_get_str(req->args, a->key, buf, sizeof(buf)); break;
    case WIRE_T_ID:
      r = wire_get_str(req->args, a->key, buf, sizeof(buf));
      if (r == 0 && strlen(buf) != 32)
        abort();
      break;
    case WIRE_T_VERSIONS:
      r = wire_get_map(req->args, a->key, &m);
      for (uint32_t i = 0; r == 0 && i < m->via.map.size; i++) {
        r = wire_obj_str(&m->via.map.ptr[i].key, buf, sizeof(buf));
        if (r == 0 && (strlen(buf) != 32 || m->via.map.ptr[i].val.via.u64 == 0 ||
                       m->via.map.ptr[i].val.via.u64 > UINT32_MAX))
          abort();
      }
      break;
    case WIRE_T_BIN: r = wire_get_bin(req->args, a->key, &p, &n); break;
    case WIRE_T_UINT:
      r = wire_get_uint(req->args, a->key, &u);
      if (r == 0 && u > a->max)
        abort();
      break;
    case WIRE_T_BOOL: r = wire_get_bool(req->args, a->key, &b); break;
    case WIRE_T_STRMAP:
      r = wire_get_map(req->args, a->key, &m);
      for (uint32_t i = 0; r == 0 && i < m->via.map.size; i++)
        r = wire_obj_str(&m->via.map.ptr[i].val, buf, sizeof(buf));
      break;
    }
    if (r != 0)
      abort();
  }
}

/* Every listing's page arguments: a refusal explains itself; an accepted
 * cursor stays inside the listing's key bounds. */
static void check_paging(const struct wire_request *req) {
  static const struct {
    enum wire_listing kind;
    size_t min, max;
  } kinds[] = {{WIRE_LIST_SECRETS, 1, 64}, {WIRE_LIST_GRANTS, 1, 64}, {WIRE_LIST_AUDIT, 8, 8}};
  for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
    struct wire_page pg;
    const char *why = NULL;
    if (wire_page_args(req->args, kinds[i].kind, kinds[i].min, kinds[i].max, &pg, &why) < 0) {
      if (!why || !*why)
        abort();
      continue;
    }
    if (pg.limit < 1 || pg.limit > WIRE_PAGE_MAX ||
        (pg.has_after && (pg.after_len < kinds[i].min || pg.after_len > kinds[i].max)))
      abort();
    if (pg.has_after) { /* what was decoded encodes back to the same cursor */
      char c[WIRE_CURSOR_MAX + 1];
      const msgpack_object *o = wire_map_get(req->args, "cursor");
      if (wire_cursor_encode(kinds[i].kind, pg.after, pg.after_len, c) < 0 ||
          strlen(c) != o->via.str.size || memcmp(c, o->via.str.ptr, o->via.str.size) != 0)
        abort();
    }
  }
}

/* The raw bytes as a cursor: never accepted outside the bounds. */
static void check_cursor_bytes(const uint8_t *p, size_t n) {
  uint8_t key[WIRE_CURSOR_KEY_MAX + 1];
  size_t len = 0;
  const char *why = NULL;
  key[WIRE_CURSOR_KEY_MAX] = 0x5a;
  size_t max = n ? p[0] % (WIRE_CURSOR_KEY_MAX + 1) : 0;
  if (wire_cursor_decode((const char *)p, n, WIRE_LIST_SECRETS, 1, max, key, &len, &why) == 0) {
    if (len < 1 || len > max || n != 2 * (len + 2))
      abort();
  } else if (!why) {
    abort();
  }
  if (key[WIRE_CURSOR_KEY_MAX] != 0x5a)
    abort();
}

static void exercise(const uint8_t *p, size_t n) {
  struct wire_value *val = NULL;
  struct wire_request req;
  struct wire_response resp;
  struct wire_error err;

  check_cursor_bytes(p, n);
  if (wire_request_decode(p, n, &val, &req, &err) == 0) {
    check_request_invariants(&req);
    check_paging(&req);
    wire_value_free(val);
  } else if (err.msg[0] == 0 || val != NULL) {
    abort(); /* every refusal explains itself and leaves nothing behind */
  }
  val = NULL;
  if (wire_response_decode(p, n, &val, &resp, &err) == 0) {
    if ((resp.ok && resp.code != 0) || (!resp.ok && resp.code >= 0) || !resp.result ||
        resp.result->type != MSGPACK_OBJECT_MAP || memchr(resp.error, 0, sizeof(resp.error)) == NULL)
      abort();
    wire_value_free(val);
  }
}

static void on_evict(struct wire_reader *r, void *ud) { (*(int *)ud)++; }

/* Memory follows the bytes: never more than twice what arrived (or one
 * chunk), never more than declared. */
static void check_held(const struct wire_reader *r) {
  size_t held = wire_reader_held(r), got = wire_reader_received(r);
  if (held > wire_reader_pending(r) || (held > WIRE_READER_CHUNK && held > 2 * got))
    abort();
}

#define FUZZ_BUDGET 4096u

/*
 * Selector byte: 0x80 feeds everything at once, else 1 + (bits 0-5) bytes per
 * feed; 0x40 puts the reader in a small budget (4 KiB) shared with a second
 * reader that holds a partial frame, so growth evicts or fails.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wire_reader *r, *other = NULL;
  struct wire_budget *b = NULL;
  int evicted = 0;
  if (size == 0 || wire_reader_new(0, &r) < 0)
    return 0;
  size_t chunk = (data[0] & 0x80) ? size : 1 + (size_t)(data[0] & 0x3f);
  const uint8_t *p = data + 1;
  size_t left = size - 1;
  if (data[0] & 0x40) {
    if (wire_budget_new(FUZZ_BUDGET, &b) < 0 || wire_reader_new(0, &other) < 0)
      abort();
    wire_reader_set_budget(other, b, on_evict, &evicted);
    wire_reader_set_budget(r, b, on_evict, &evicted);
    static const uint8_t hdr[4] = {0, 0, 0x40, 0}; /* 16 KiB declared */
    static uint8_t body[3000];
    size_t used;
    if (wire_reader_feed(other, hdr, 4, &used) != 0 ||
        wire_reader_feed(other, body, sizeof(body), &used) != 0)
      abort();
    check_held(other);
  }
  while (left) {
    size_t k = left < chunk ? left : chunk, used = 0;
    int st = wire_reader_feed(r, p, k, &used);
    if (used > k)
      abort();
    if (b && wire_budget_used(b) > FUZZ_BUDGET)
      abort();
    check_held(r);
    p += used;
    left -= used;
    if (st < 0) {
      if (st == -ENOBUFS && !b)
        abort(); /* only a budget refuses memory */
      break;
    }
    if (st == 1) {
      const uint8_t *f;
      size_t fl;
      wire_reader_frame(r, &f, &fl);
      if (fl == 0 || fl > WIRE_MAX_FRAME)
        abort();
      exercise(f, fl);
      wire_reader_consume(r);
      if (wire_reader_held(r) != 0)
        abort();
    } else if (used == 0) {
      abort(); /* no progress without a complete frame */
    }
  }
  if (evicted > 1 || (evicted && wire_reader_held(other) != 0))
    abort();
  wire_reader_free(r);
  wire_reader_free(other);
  if (b && wire_budget_used(b) != 0)
    abort();
  wire_budget_free(b);
  if (size > 1)
    exercise(data + 1, size - 1);
  return 0;
}
