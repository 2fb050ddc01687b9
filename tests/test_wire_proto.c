/* The schema: request/response round trips and every refusal of the decoder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "wire/proto.h"

static void pack_valid(msgpack_packer *pk, enum wire_type t) {
  switch (t) {
  case WIRE_T_STR: wire_pack_str(pk, "x"); break;
  case WIRE_T_BIN: msgpack_pack_bin(pk, 1); msgpack_pack_bin_body(pk, "\x00", 1); break;
  case WIRE_T_UINT: msgpack_pack_uint64(pk, 1); break;
  case WIRE_T_BOOL: msgpack_pack_true(pk); break;
  case WIRE_T_STRMAP: msgpack_pack_map(pk, 1); wire_pack_kv_str(pk, "k", "v"); break;
  case WIRE_T_ID: wire_pack_str(pk, "00112233445566778899aabbccddeeff"); break;
  case WIRE_T_VERSIONS:
    msgpack_pack_map(pk, 1);
    wire_pack_str(pk, "00112233445566778899aabbccddeeff");
    msgpack_pack_uint64(pk, 3);
    break;
  case WIRE_T_HEX32:
    wire_pack_str(pk, "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF");
    break;
  }
}

static void pack_wrong(msgpack_packer *pk, enum wire_type t) {
  switch (t) {
  case WIRE_T_STR: msgpack_pack_uint64(pk, 5); break;
  case WIRE_T_BIN: wire_pack_str(pk, "not bin"); break;
  case WIRE_T_UINT: msgpack_pack_int64(pk, -5); break;
  case WIRE_T_BOOL: msgpack_pack_uint64(pk, 1); break;
  case WIRE_T_STRMAP: msgpack_pack_array(pk, 0); break;
  case WIRE_T_HEX32: wire_pack_str(pk, "xyz"); break;
  case WIRE_T_ID: wire_pack_str(pk, "00112233445566778899AABBCCDDEEFF"); break; /* upper case */
  case WIRE_T_VERSIONS: /* version 0 */
    msgpack_pack_map(pk, 1);
    wire_pack_str(pk, "00112233445566778899aabbccddeeff");
    msgpack_pack_uint64(pk, 0);
    break;
  }
}

/* Which args to pack: all, only required, or all with one of them wrong/missing. */
struct argset {
  enum wire_op op;
  bool optional;
  int wrong;   /* index of an arg packed with a wrong type, or -1 */
  int missing; /* index of an arg left out, or -1 */
  const char *extra; /* an unknown arg to add, or NULL */
};

static void pack_args(msgpack_packer *pk, void *ud) {
  const struct argset *s = ud;
  const struct wire_arg_spec *a = wire_op_args(s->op);
  uint32_t n = 0;
  for (int i = 0; a[i].key; i++)
    if ((a[i].required || s->optional || i == s->wrong) && i != s->missing)
      n++;
  msgpack_pack_map(pk, n + (s->extra ? 1 : 0));
  for (int i = 0; a[i].key; i++) {
    if (!((a[i].required || s->optional || i == s->wrong) && i != s->missing))
      continue;
    wire_pack_str(pk, a[i].key);
    if (i == s->wrong)
      pack_wrong(pk, a[i].type);
    else
      pack_valid(pk, a[i].type);
  }
  if (s->extra)
    wire_pack_kv_str(pk, s->extra, "x");
}

/* Encode s as request id 42 into b (kept by the caller: the tree points into it) and decode. */
static int roundtrip(struct wire_buf *b, const struct argset *s, struct wire_request *req,
                     struct wire_error *err, struct wire_value **val) {
  *b = (struct wire_buf){0};
  int n = wire_request_encode(b, 42, s->op, pack_args, (void *)s);
  assert_true(n > 4);
  uint32_t len = (uint32_t)b->data[0] << 24 | (uint32_t)b->data[1] << 16 |
                 (uint32_t)b->data[2] << 8 | b->data[3];
  assert_int_equal(len, (uint32_t)n - 4);
  *val = NULL;
  return wire_request_decode(b->data + 4, (size_t)n - 4, val, req, err);
}

static void test_every_op_round_trips_with_all_and_only_required_args(void **state) {
  for (int op = 0; op < WIRE_OP__COUNT; op++) {
    for (int opt = 0; opt < 2; opt++) {
      struct argset s = {.op = op, .optional = opt, .wrong = -1, .missing = -1};
      struct wire_buf b;
      struct wire_request req;
      struct wire_error err;
      struct wire_value *val;
      int r = roundtrip(&b, &s, &req, &err, &val);
      if (r < 0)
        fail_msg("%s: %s", wire_op_name(op), err.msg);
      assert_int_equal(req.id, 42);
      assert_int_equal(req.opcode, op);
      assert_string_equal(req.op, wire_op_name(op));
      assert_int_equal(req.args->type, MSGPACK_OBJECT_MAP);
      const struct wire_arg_spec *a = wire_op_args(op);
      for (int i = 0; a[i].key; i++)
        if (a[i].required || opt)
          assert_non_null(wire_map_get(req.args, a[i].key));
      assert_int_equal(wire_op_lookup(req.op, strlen(req.op)), op);
      wire_value_free(val);
      wire_buf_release(&b);
    }
  }
}

static void test_wrong_type_of_each_arg_is_refused_naming_it(void **state) {
  int checked = 0;
  for (int op = 0; op < WIRE_OP__COUNT; op++) {
    const struct wire_arg_spec *a = wire_op_args(op);
    for (int i = 0; a[i].key; i++) {
      struct argset s = {.op = op, .optional = false, .wrong = i, .missing = -1};
      struct wire_buf b;
      struct wire_request req;
      struct wire_error err;
      struct wire_value *val;
      assert_int_equal(roundtrip(&b, &s, &req, &err, &val), SD_E_PROTO);
      assert_null(val);
      char want[64];
      snprintf(want, sizeof(want), "argument '%s'", a[i].key);
      if (!strstr(err.msg, want))
        fail_msg("%s/%s: message '%s'", wire_op_name(op), a[i].key, err.msg);
      assert_int_equal(err.id, 42);
      assert_string_equal(err.op, wire_op_name(op));
      wire_buf_release(&b);
      checked++;
    }
  }
  assert_true(checked >= 20);
}

static void test_missing_required_arg_is_refused(void **state) {
  for (int op = 0; op < WIRE_OP__COUNT; op++) {
    const struct wire_arg_spec *a = wire_op_args(op);
    for (int i = 0; a[i].key; i++) {
      if (!a[i].required)
        continue;
      struct argset s = {.op = op, .wrong = -1, .missing = i};
      struct wire_buf b;
      struct wire_request req;
      struct wire_error err;
      struct wire_value *val;
      assert_int_equal(roundtrip(&b, &s, &req, &err, &val), SD_E_PROTO);
      assert_non_null(strstr(err.msg, "missing argument"));
      assert_non_null(strstr(err.msg, a[i].key));
      wire_buf_release(&b);
    }
  }
}

/* Field evolution: an argument a newer peer added is ignored by an older one. */
static void test_unknown_arg_is_ignored(void **state) {
  for (int op = 0; op < WIRE_OP__COUNT; op++) {
    struct argset s = {.op = op, .wrong = -1, .missing = -1, .extra = "added_later"};
    struct wire_buf b;
    struct wire_request req;
    struct wire_error err;
    struct wire_value *val;
    if (roundtrip(&b, &s, &req, &err, &val) != 0)
      fail_msg("%s: %s", wire_op_name(op), err.msg);
    assert_int_equal(req.opcode, op);
    assert_non_null(wire_map_get(req.args, "added_later")); /* there, but no one reads it */
    wire_value_free(val);
    wire_buf_release(&b);
  }
}

/* A request {v,id:5,op,args} whose args are built by fn. */
static int decode_with_args(const char *op, void (*fn)(msgpack_packer *, void *), void *ud,
                            struct wire_request *req, struct wire_error *err) {
  struct wire_buf b;
  msgpack_packer pk;
  struct wire_value *val = NULL;
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_uint(&pk, "id", 5);
  wire_pack_kv_str(&pk, "op", op);
  wire_pack_str(&pk, "args");
  fn(&pk, ud);
  int n = wire_buf_finish(&b);
  assert_true(n > 4);
  int r = wire_request_decode(b.data + 4, (size_t)n - 4, &val, req, err);
  if (r == 0)
    assert_int_equal(req->args->type, MSGPACK_OBJECT_MAP);
  wire_value_free(val);
  wire_buf_release(&b);
  return r;
}

struct many {
  unsigned n;      /* unknown keys */
  size_t key_len;  /* of the first unknown key (0: short) */
  bool dup;        /* the last unknown key repeats the first */
  bool nested;     /* unknown values are deep maps and arrays, not ints */
};

static void pack_many(msgpack_packer *pk, void *ud) {
  const struct many *m = ud;
  msgpack_pack_map(pk, 1 + m->n);
  wire_pack_kv_str(pk, "ref", "db");
  for (unsigned i = 0; i < m->n; i++) {
    char k[200];
    if (i == 0 && m->key_len) {
      memset(k, 'k', m->key_len);
      k[m->key_len] = 0;
    } else {
      snprintf(k, sizeof(k), "future_%u", m->dup && i == m->n - 1 ? 0 : i);
    }
    wire_pack_str(pk, k);
    if (m->nested) {
      for (int d = 0; d < 10; d++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint64(pk, d);
      }
      msgpack_pack_nil(pk);
    } else {
      msgpack_pack_uint64(pk, i);
    }
  }
}

/* Ignored fields stay bounded: key count, key length, no duplicates. */
static void test_ignored_args_stay_bounded(void **state) {
  struct wire_request req;
  struct wire_error err;
  struct many m = {.n = WIRE_KEYS_MAX - 1, .nested = true};
  assert_int_equal(decode_with_args("secret.inspect", pack_many, &m, &req, &err), 0);
  m = (struct many){.n = WIRE_KEYS_MAX}; /* 33 keys with "ref" */
  assert_int_equal(decode_with_args("secret.inspect", pack_many, &m, &req, &err), SD_E_PROTO);
  assert_non_null(strstr(err.msg, "too many keys"));
  assert_int_equal(err.id, 5);
  m = (struct many){.n = 1, .key_len = WIRE_KEY_MAX};
  assert_int_equal(decode_with_args("secret.inspect", pack_many, &m, &req, &err), 0);
  m = (struct many){.n = 1, .key_len = WIRE_KEY_MAX + 1};
  assert_int_equal(decode_with_args("secret.inspect", pack_many, &m, &req, &err), SD_E_PROTO);
  assert_non_null(strstr(err.msg, "key is too long"));
  m = (struct many){.n = 3, .dup = true};
  assert_int_equal(decode_with_args("secret.inspect", pack_many, &m, &req, &err), SD_E_PROTO);
  assert_non_null(strstr(err.msg, "appears twice"));
}

/* A known argument keeps its type check even next to ignored ones, and a
 * required one is named when missing. */
static void pack_known_wrong(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "ref", 3);
  wire_pack_kv_uint(pk, "future", 1);
}
static void pack_only_future(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "future", 1);
}
static void test_known_args_keep_their_rules(void **state) {
  struct wire_request req;
  struct wire_error err;
  assert_int_equal(decode_with_args("secret.inspect", pack_known_wrong, NULL, &req, &err),
                   SD_E_PROTO);
  assert_string_equal(err.msg, "secret.inspect: argument 'ref' must be a string");
  assert_int_equal(decode_with_args("secret.inspect", pack_only_future, NULL, &req, &err),
                   SD_E_PROTO);
  assert_string_equal(err.msg, "secret.inspect: missing argument 'ref'");
}

/* The worked example of docs/protocol.md: a newer client adds the optional
 * argument "filter" to secret.ls and a new operation "volume.ls"; this
 * (older) end serves the first and refuses the second by name. */
static void pack_ls_filter(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "limit", 10);
  wire_pack_kv_str(pk, "filter", "label:team=db");
}
static void pack_empty(msgpack_packer *pk, void *ud) { msgpack_pack_map(pk, 0); }
static void test_worked_example_new_field_and_new_op(void **state) {
  struct wire_request req;
  struct wire_error err;
  assert_int_equal(decode_with_args("secret.ls", pack_ls_filter, NULL, &req, &err), 0);
  assert_int_equal(req.opcode, WIRE_OP_SECRET_LS);
  assert_int_equal(decode_with_args("volume.ls", pack_empty, NULL, &req, &err), SD_E_UNSUPPORTED);
  assert_int_equal(err.code, SD_E_UNSUPPORTED);
  assert_string_equal(err.msg, "unsupported operation 'volume.ls'");
  assert_string_equal(err.op, "volume.ls"); /* the reply and the audit record name it */
  assert_int_equal(err.id, 5);            /* answered, the connection stays */
  /* an op name that is not printable is still refused as unsupported, shown safely */
  assert_int_equal(decode_with_args("x'\n\x01y", pack_empty, NULL, &req, &err), SD_E_UNSUPPORTED);
  assert_string_equal(err.msg, "unsupported operation 'x???y'");
  assert_string_equal(err.op, "malformed");
}

/* A hand-built request map with the given top-level entries. */
struct top {
  bool v, id, op, args;
  uint64_t version;
  const char *opname;
  const char *extra_key;
  bool args_not_map, id_negative, dup_id;
};

static int decode_top(const struct top *t, struct wire_error *err) {
  struct wire_buf b;
  msgpack_packer pk;
  struct wire_value *val = NULL;
  struct wire_request req;
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, t->v + t->id + t->op + t->args + (t->extra_key != NULL) + t->dup_id);
  if (t->v)
    wire_pack_kv_uint(&pk, "v", t->version);
  if (t->id) {
    wire_pack_str(&pk, "id");
    if (t->id_negative)
      msgpack_pack_int64(&pk, -1);
    else
      msgpack_pack_uint64(&pk, 7);
  }
  if (t->dup_id)
    wire_pack_kv_uint(&pk, "id", 8);
  if (t->op)
    wire_pack_kv_str(&pk, "op", t->opname);
  if (t->args) {
    wire_pack_str(&pk, "args");
    if (t->args_not_map)
      msgpack_pack_array(&pk, 0);
    else
      msgpack_pack_map(&pk, 0);
  }
  if (t->extra_key)
    wire_pack_kv_uint(&pk, t->extra_key, 1);
  int n = wire_buf_finish(&b);
  assert_true(n > 4);
  int r = wire_request_decode(b.data + 4, (size_t)n - 4, &val, &req, err);
  wire_value_free(val);
  wire_buf_release(&b);
  return r;
}

static void test_top_level_refusals(void **state) {
  struct wire_error err;
  const struct top ok = {true, true, true, true, 1, "ping", NULL, false, false, false};
  struct top t;
  assert_int_equal(decode_top(&ok, &err), 0);

  t = ok; t.opname = "secret.explode";
  assert_int_equal(decode_top(&t, &err), SD_E_UNSUPPORTED);
  assert_string_equal(err.msg, "unsupported operation 'secret.explode'");
  assert_string_equal(err.op, "secret.explode"); /* named for the audit record */
  assert_int_equal(err.id, 7);

  t = ok; t.opname = "bad op\n";
  assert_int_equal(decode_top(&t, &err), SD_E_UNSUPPORTED);
  assert_string_equal(err.op, "malformed"); /* not echoed into audit records */

  t = ok; t.version = 2;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  assert_non_null(strstr(err.msg, "version"));
  t = ok; t.v = false;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  t = ok; t.id = false;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  assert_string_equal(err.msg, "missing key 'id'");
  t = ok; t.id_negative = true;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  t = ok; t.op = false;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  assert_string_equal(err.msg, "missing key 'op'");
  t = ok; t.args = false;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  assert_string_equal(err.msg, "missing key 'args'");
  t = ok; t.args_not_map = true;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  t = ok; t.extra_key = "x"; /* a top-level key a newer peer added: ignored */
  assert_int_equal(decode_top(&t, &err), 0);
  t = ok; t.extra_key = "v"; /* but never twice */
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
  t = ok; t.dup_id = true;
  assert_int_equal(decode_top(&t, &err), SD_E_PROTO);
}

static void test_non_map_request_and_garbage_are_refused(void **state) {
  static const uint8_t arr[] = {0x90};
  static const uint8_t junk[] = {0xc1, 0x00};
  struct wire_value *val = NULL;
  struct wire_request req;
  struct wire_error err;
  assert_int_equal(wire_request_decode(arr, sizeof(arr), &val, &req, &err), SD_E_PROTO);
  assert_null(val);
  assert_int_equal(wire_request_decode(junk, sizeof(junk), &val, &req, &err), SD_E_PROTO);
  assert_string_equal(err.op, "malformed");
  assert_int_equal(err.id, 0);
}

static void test_limits_in_the_schema(void **state) {
  /* audit.ls limit above 1000 and labels that are not str->str */
  struct wire_buf b;
  msgpack_packer pk;
  struct wire_value *val = NULL;
  struct wire_request req;
  struct wire_error err;
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_uint(&pk, "id", 1);
  wire_pack_kv_str(&pk, "op", "audit.ls");
  wire_pack_str(&pk, "args");
  msgpack_pack_map(&pk, 1);
  wire_pack_kv_uint(&pk, "limit", WIRE_AUDIT_LS_MAX + 1);
  int n = wire_buf_finish(&b);
  assert_int_equal(wire_request_decode(b.data + 4, (size_t)n - 4, &val, &req, &err), SD_E_PROTO);
  assert_non_null(strstr(err.msg, "'limit' is out of range"));
  wire_buf_release(&b);

  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_uint(&pk, "id", 1);
  wire_pack_kv_str(&pk, "op", "secret.create");
  wire_pack_str(&pk, "args");
  msgpack_pack_map(&pk, 3);
  wire_pack_kv_str(&pk, "name", "n");
  wire_pack_str(&pk, "value");
  msgpack_pack_bin(&pk, 1);
  msgpack_pack_bin_body(&pk, "v", 1);
  wire_pack_str(&pk, "labels");
  msgpack_pack_map(&pk, 1);
  wire_pack_str(&pk, "k");
  msgpack_pack_uint64(&pk, 3);
  n = wire_buf_finish(&b);
  assert_int_equal(wire_request_decode(b.data + 4, (size_t)n - 4, &val, &req, &err), SD_E_PROTO);
  assert_non_null(strstr(err.msg, "'labels'"));
  wire_buf_release(&b);
}

static void pack_result(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "version", "0.1.0");
}

static void test_responses_round_trip(void **state) {
  struct wire_buf b = {0};
  struct wire_value *val = NULL;
  struct wire_response resp;
  struct wire_error err;
  char s[16];

  int n = wire_response_encode_ok(&b, 9, pack_result, NULL);
  assert_true(n > 4);
  assert_int_equal(wire_response_decode(b.data + 4, (size_t)n - 4, &val, &resp, &err), 0);
  assert_true(resp.ok);
  assert_int_equal(resp.id, 9);
  assert_int_equal(resp.code, 0);
  assert_int_equal(wire_get_str(resp.result, "version", s, sizeof(s)), 0);
  assert_string_equal(s, "0.1.0");
  wire_value_free(val);
  wire_buf_release(&b);

  n = wire_response_encode_error(&b, 10, SD_E_GRANTED, NULL);
  assert_true(n > 4);
  assert_int_equal(wire_response_decode(b.data + 4, (size_t)n - 4, &val, &resp, &err), 0);
  assert_false(resp.ok);
  assert_int_equal(resp.code, SD_E_GRANTED);
  assert_string_equal(resp.error, sd_strerror(SD_E_GRANTED));
  assert_int_equal(resp.result->type, MSGPACK_OBJECT_MAP);
  wire_value_free(val);
  wire_buf_release(&b);

  /* a positive code is never sent as success */
  n = wire_response_encode_error(&b, 11, 5, "odd");
  assert_int_equal(wire_response_decode(b.data + 4, (size_t)n - 4, &val, &resp, &err), 0);
  assert_false(resp.ok);
  assert_int_equal(resp.code, -EIO);
  assert_string_equal(resp.error, "odd");
  wire_value_free(val);
  wire_buf_release(&b);
}

static void test_inconsistent_response_is_refused(void **state) {
  struct wire_buf b;
  msgpack_packer pk;
  struct wire_value *val = NULL;
  struct wire_response resp;
  struct wire_error err;
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_uint(&pk, "id", 1);
  wire_pack_kv_bool(&pk, "ok", false);
  wire_pack_kv_uint(&pk, "code", 0); /* !ok needs a negative code */
  int n = wire_buf_finish(&b);
  assert_int_equal(wire_response_decode(b.data + 4, (size_t)n - 4, &val, &resp, &err),
                   SD_E_PROTO);
  assert_null(val);
  wire_buf_release(&b);
}

/* An older client reading a newer server's reply: unknown top-level keys
 * ignored (still bounded, no duplicates). */
static int decode_resp_extra(unsigned n_extra, bool dup, struct wire_response *resp) {
  struct wire_buf b;
  msgpack_packer pk;
  struct wire_value *val = NULL;
  struct wire_error err;
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 5 + n_extra + dup);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_uint(&pk, "id", 3);
  wire_pack_kv_bool(&pk, "ok", true);
  wire_pack_kv_uint(&pk, "code", 0);
  wire_pack_str(&pk, "result");
  msgpack_pack_map(&pk, 1);
  wire_pack_kv_str(&pk, "new_result_field", "x");
  for (unsigned i = 0; i < n_extra; i++) {
    char k[32];
    snprintf(k, sizeof(k), "trace_%u", i);
    wire_pack_kv_str(&pk, k, "span");
  }
  if (dup)
    wire_pack_kv_uint(&pk, "id", 4);
  int n = wire_buf_finish(&b);
  int r = wire_response_decode(b.data + 4, (size_t)n - 4, &val, resp, &err);
  if (r == 0)
    assert_int_equal(resp->id, 3);
  wire_value_free(val);
  wire_buf_release(&b);
  return r;
}

static void test_response_ignores_unknown_keys(void **state) {
  struct wire_response resp;
  assert_int_equal(decode_resp_extra(1, false, &resp), 0);
  assert_true(resp.ok);
  assert_int_equal(decode_resp_extra(WIRE_KEYS_MAX - 5, false, &resp), 0);
  assert_int_equal(decode_resp_extra(WIRE_KEYS_MAX - 4, false, &resp), SD_E_PROTO);
  assert_int_equal(decode_resp_extra(1, true, &resp), SD_E_PROTO);
}

static void test_cursor_round_trip_and_hostile_cursors(void **state) {
  char c[WIRE_CURSOR_MAX + 1];
  uint8_t key[WIRE_CURSOR_KEY_MAX + 8];
  size_t n = 0;
  const char *why = NULL;

  assert_int_equal(wire_cursor_encode(WIRE_LIST_SECRETS, "db_pw", 5, c), 0);
  assert_string_equal(c, "010164625f7077");
  assert_int_equal(wire_cursor_decode(c, strlen(c), WIRE_LIST_SECRETS, 1, 64, key, &n, &why), 0);
  assert_int_equal(n, 5);
  assert_memory_equal(key, "db_pw", 5);
  /* the longest key */
  uint8_t big[WIRE_CURSOR_KEY_MAX];
  memset(big, 0xff, sizeof(big));
  assert_int_equal(wire_cursor_encode(WIRE_LIST_GRANTS, big, sizeof(big), c), 0);
  assert_int_equal(strlen(c), WIRE_CURSOR_MAX);
  assert_int_equal(wire_cursor_decode(c, strlen(c), WIRE_LIST_GRANTS, 1, WIRE_CURSOR_KEY_MAX, key,
                                      &n, &why), 0);
  assert_int_equal(n, WIRE_CURSOR_KEY_MAX);
  assert_int_equal(wire_cursor_encode(WIRE_LIST_GRANTS, big, sizeof(big) + 1, c), -EINVAL);

  /* hostile cursors: each refused with a reason, nothing written past key_max */
  static const struct {
    const char *s;
    const char *why;
  } bad[] = {
      {"", "length"},
      {"01", "length"},
      {"0101", "length"},            /* no key; a name has at least 1 byte */
      {"010164625", "length"},       /* odd */
      {"010164625F", "hex"},         /* upper case */
      {"0101zz", "hex"},
      {"01016\x00", "hex"},
      {"020164", "format"},
      {"010364", "another listing"}, /* an audit cursor given to secret.ls */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t len = strlen(bad[i].s);
    if (i == 6)
      len = 6; /* the NUL inside */
    memset(key, 0xAA, sizeof(key));
    why = NULL;
    assert_int_equal(wire_cursor_decode(bad[i].s, len, WIRE_LIST_SECRETS, 1, 64, key, &n, &why),
                     SD_E_PROTO);
    assert_non_null(why);
    if (!strstr(why, bad[i].why))
      fail_msg("cursor '%s': '%s'", bad[i].s, why);
  }
  /* a key longer than the listing's (65 bytes for names of at most 64) */
  uint8_t k65[65];
  memset(k65, 'a', sizeof(k65));
  assert_int_equal(wire_cursor_encode(WIRE_LIST_SECRETS, k65, sizeof(k65), c), 0);
  memset(key, 0xAA, sizeof(key));
  assert_int_equal(wire_cursor_decode(c, strlen(c), WIRE_LIST_SECRETS, 1, 64, key, &n, &why),
                   SD_E_PROTO);
  assert_int_equal(key[0], 0xAA); /* refused before anything was written */
  /* an audit cursor is exactly 8 bytes */
  assert_int_equal(wire_cursor_encode(WIRE_LIST_AUDIT, "\0\0\0\0\0\0\0\x07", 8, c), 0);
  assert_int_equal(wire_cursor_decode(c, strlen(c), WIRE_LIST_AUDIT, 8, 8, key, &n, &why), 0);
  assert_int_equal(wire_cursor_decode(c, strlen(c) - 2, WIRE_LIST_AUDIT, 8, 8, key, &n, &why),
                   SD_E_PROTO);
}

static void pack_page(msgpack_packer *pk, void *ud) {
  const char *cursor = ud;
  wire_pack_page_args(pk, 0, cursor, 0);
}

static void test_page_args_and_budget(void **state) {
  struct wire_request req;
  struct wire_error err;
  struct wire_buf b;
  msgpack_packer pk;
  struct wire_value *val = NULL;
  struct wire_page pg;
  const char *why;
  char c[WIRE_CURSOR_MAX + 1];

  /* limit 0 (or absent): the default; a cursor decodes into the position */
  assert_int_equal(wire_cursor_encode(WIRE_LIST_SECRETS, "m", 1, c), 0);
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_uint(&pk, "id", 5);
  wire_pack_kv_str(&pk, "op", "secret.ls");
  wire_pack_str(&pk, "args");
  pack_page(&pk, c);
  int n = wire_buf_finish(&b);
  assert_int_equal(wire_request_decode(b.data + 4, (size_t)n - 4, &val, &req, &err), 0);
  assert_int_equal(wire_page_args(req.args, WIRE_LIST_SECRETS, 1, 64, &pg, &why), 0);
  assert_true(pg.asked);
  assert_true(pg.has_after);
  assert_int_equal(pg.limit, WIRE_PAGE_DEFAULT);
  assert_int_equal(pg.after_len, 1);
  assert_int_equal(pg.after[0], 'm');
  /* the same cursor for the audit listing is refused */
  assert_int_equal(wire_page_args(req.args, WIRE_LIST_AUDIT, 8, 8, &pg, &why), SD_E_PROTO);
  assert_non_null(strstr(why, "cursor"));
  wire_value_free(val);
  wire_buf_release(&b);

  /* a cursor longer than the schema allows is refused by the decoder */
  char *huge = malloc(WIRE_CURSOR_MAX + 3);
  memset(huge, 'a', WIRE_CURSOR_MAX + 2);
  huge[WIRE_CURSOR_MAX + 2] = 0;
  assert_int_equal(decode_with_args("secret.ls", pack_page, huge, &req, &err), SD_E_PROTO);
  assert_non_null(strstr(err.msg, "'cursor' is too long"));
  free(huge);

  /* the byte budget ends a page early but always takes the first entry */
  struct wire_page p = {.limit = 3};
  size_t used = 0;
  assert_true(wire_page_take(&p, 0, &used, WIRE_PAGE_BYTES + 1));
  assert_false(wire_page_take(&p, 1, &used, 1));
  used = 0;
  assert_true(wire_page_take(&p, 0, &used, WIRE_PAGE_BYTES / 2));
  assert_true(wire_page_take(&p, 1, &used, WIRE_PAGE_BYTES / 2));
  assert_false(wire_page_take(&p, 2, &used, 1));
  used = 0;
  assert_true(wire_page_take(&p, 2, &used, 1));
  assert_false(wire_page_take(&p, 3, &used, 1)); /* the limit */
}

/* The client's reading of "next": absent, a cursor, or refused. */
static void test_page_next_on_the_client(void **state) {
  char buf[WIRE_CURSOR_MAX + 1];
  bool more = true;
  msgpack_object_kv kv;
  msgpack_object m = {.type = MSGPACK_OBJECT_MAP, .via.map = {.size = 0, .ptr = &kv}};
  assert_int_equal(wire_page_next(&m, buf, &more), 0);
  assert_false(more);
  assert_string_equal(buf, "");
  char long_cursor[WIRE_CURSOR_MAX + 2];
  memset(long_cursor, 'a', sizeof(long_cursor));
  static const struct {
    msgpack_object_type type;
    const char *s;
    size_t n;
    int want;
  } cases[] = {
      {MSGPACK_OBJECT_STR, "010164", 6, 0},
      {MSGPACK_OBJECT_STR, "", 0, SD_E_PROTO},          /* empty: would restart the walk */
      {MSGPACK_OBJECT_STR, "01\0" "164", 6, SD_E_PROTO}, /* NUL inside */
      {MSGPACK_OBJECT_POSITIVE_INTEGER, NULL, 0, SD_E_PROTO},
  };
  kv.key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {4, "next"}};
  m.via.map.size = 1;
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    kv.val = (msgpack_object){.type = cases[i].type};
    if (cases[i].type == MSGPACK_OBJECT_STR)
      kv.val.via.str = (msgpack_object_str){(uint32_t)cases[i].n, cases[i].s};
    else
      kv.val.via.u64 = 5;
    assert_int_equal(wire_page_next(&m, buf, &more), cases[i].want);
    if (cases[i].want == 0) {
      assert_true(more);
      assert_string_equal(buf, cases[i].s);
    }
  }
  kv.val = (msgpack_object){.type = MSGPACK_OBJECT_STR,
                            .via.str = {(uint32_t)sizeof(long_cursor), long_cursor}};
  assert_int_equal(wire_page_next(&m, buf, &more), SD_E_PROTO); /* longer than any cursor */
  kv.key.via.str = (msgpack_object_str){11, "grants_next"};
  kv.val.via.str.size = 4;
  assert_int_equal(wire_page_next_at(&m, "grants_next", buf, &more), 0);
  assert_true(more);
  assert_string_equal(buf, "aaaa");
}

static void test_op_names_and_lookup(void **state) {
  assert_null(wire_op_name(WIRE_OP__COUNT));
  assert_null(wire_op_args(WIRE_OP__COUNT));
  assert_int_equal(wire_op_lookup("secret", 6), -ENOENT);
  assert_int_equal(wire_op_lookup("grant.add", 9), WIRE_OP_GRANT_ADD);
  struct wire_buf b = {0};
  assert_int_equal(wire_request_encode(&b, 1, WIRE_OP__COUNT, NULL, NULL), -EINVAL);
  wire_buf_release(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_op_round_trips_with_all_and_only_required_args),
      cmocka_unit_test(test_wrong_type_of_each_arg_is_refused_naming_it),
      cmocka_unit_test(test_missing_required_arg_is_refused),
      cmocka_unit_test(test_unknown_arg_is_ignored),
      cmocka_unit_test(test_ignored_args_stay_bounded),
      cmocka_unit_test(test_known_args_keep_their_rules),
      cmocka_unit_test(test_worked_example_new_field_and_new_op),
      cmocka_unit_test(test_response_ignores_unknown_keys),
      cmocka_unit_test(test_cursor_round_trip_and_hostile_cursors),
      cmocka_unit_test(test_page_args_and_budget),
      cmocka_unit_test(test_page_next_on_the_client),
      cmocka_unit_test(test_top_level_refusals),
      cmocka_unit_test(test_non_map_request_and_garbage_are_refused),
      cmocka_unit_test(test_limits_in_the_schema),
      cmocka_unit_test(test_responses_round_trip),
      cmocka_unit_test(test_inconsistent_response_is_refused),
      cmocka_unit_test(test_op_names_and_lookup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
