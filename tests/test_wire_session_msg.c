/* wire/session_msg: hello, push, ack and heartbeat encoding and decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "wire/session_msg.h"

struct dec {
  struct wire_value *v;
  struct wire_smsg m;
  struct wire_error err;
  int r;
};

/* Decode the payload of a finished frame in b (released here). */
static struct dec decode_buf(struct wire_buf *b, int n) {
  struct dec d = {0};
  assert_true(n > WIRE_HEADER_BYTES);
  static uint8_t copy[4096];
  memcpy(copy, b->data + WIRE_HEADER_BYTES, (size_t)n - WIRE_HEADER_BYTES);
  wire_buf_release(b);
  d.r = wire_smsg_decode(copy, (size_t)n - WIRE_HEADER_BYTES, &d.v, &d.m, &d.err);
  return d;
}

static struct dec decode_map(void (*pack)(msgpack_packer *pk)) {
  struct wire_buf b = {0};
  msgpack_packer pk;
  wire_buf_init(&b, &pk);
  pack(&pk);
  return decode_buf(&b, wire_buf_finish(&b));
}

static void test_client_hello_round_trip(void **state) {
  (void)state;
  struct wire_buf b = {0};
  struct dec d = decode_buf(&b, wire_hello_encode_client(&b, WIRE_VERSIONS_ALL, WIRE_FEATS_ALL, 41));
  assert_int_equal(d.r, 0);
  assert_int_equal(d.m.kind, WIRE_SMSG_HELLO);
  assert_false(d.m.reply);
  assert_int_equal(d.m.hello.versions, WIRE_VERSIONS_ALL);
  assert_int_equal(d.m.hello.features, WIRE_FEATS_ALL);
  assert_int_equal(d.m.hello.resume, 41);
  wire_value_free(d.v);
}

static void test_server_hello_round_trip(void **state) {
  (void)state;
  struct wire_buf b = {0};
  struct dec d = decode_buf(&b, wire_hello_encode_server(&b, 2, WIRE_VERSIONS_ALL, WIRE_FEAT_PUSH,
                                                        10000, 3));
  assert_int_equal(d.r, 0);
  assert_true(d.m.reply);
  assert_int_equal(d.m.hello.versions, WIRE_VERSIONS_ALL);
  assert_int_equal(d.m.hello.version, 2);
  assert_int_equal(d.m.hello.features, WIRE_FEAT_PUSH);
  assert_int_equal(d.m.hello.hb_ms, 10000);
  assert_int_equal(d.m.hello.hb_missed, 3);
  wire_value_free(d.v);
}

static void pack_truncated_map(msgpack_packer *pk) {
  msgpack_pack_map(pk, 5);
  wire_pack_kv_uint(pk, "v", 1); /* 1 of the 5 entries announced */
}

static void pack_hello_unknowns(msgpack_packer *pk) {
  msgpack_pack_map(pk, 5);
  wire_pack_kv_uint(pk, "v", 1);
  wire_pack_kv_str(pk, "t", "hello");
  wire_pack_str(pk, "versions");
  msgpack_pack_array(pk, 3);
  msgpack_pack_uint32(pk, 2);
  msgpack_pack_uint32(pk, 40); /* beyond 31: ignored */
  msgpack_pack_uint32(pk, 7);
  wire_pack_str(pk, "features");
  msgpack_pack_array(pk, 2);
  wire_pack_str(pk, "heartbeat");
  wire_pack_str(pk, "telepathy");
  wire_pack_kv_str(pk, "shiny_new_field", "ignored");
}

static void test_unknown_versions_features_and_keys_are_ignored(void **state) {
  (void)state;
  struct dec d = decode_map(pack_hello_unknowns);
  assert_int_equal(d.r, 0);
  assert_int_equal(d.m.hello.versions, WIRE_VERSION_BIT(2) | WIRE_VERSION_BIT(7));
  assert_int_equal(d.m.hello.features, WIRE_FEAT_HEARTBEAT);
  assert_int_equal(wire_version_pick(WIRE_VERSIONS_ALL, d.m.hello.versions), 2);
  wire_value_free(d.v);
}

static void pack_hello_no_versions(msgpack_packer *pk) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "v", 1);
  wire_pack_kv_str(pk, "t", "hello");
}

static void pack_hello_bad_features(msgpack_packer *pk) {
  msgpack_pack_map(pk, 4);
  wire_pack_kv_uint(pk, "v", 1);
  wire_pack_kv_str(pk, "t", "hello");
  wire_pack_str(pk, "versions");
  msgpack_pack_array(pk, 1);
  msgpack_pack_uint32(pk, 1);
  wire_pack_kv_str(pk, "features", "push");
}

static void pack_unknown_kind(msgpack_packer *pk) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "v", 1);
  wire_pack_kv_str(pk, "t", "gossip");
}

static void pack_push_no_seq(msgpack_packer *pk) {
  msgpack_pack_map(pk, 4);
  wire_pack_kv_uint(pk, "v", 1);
  wire_pack_kv_str(pk, "t", "push");
  wire_pack_kv_str(pk, "topic", "x");
  wire_pack_str(pk, "body");
  msgpack_pack_map(pk, 0);
}

static void test_refusals_name_the_field(void **state) {
  (void)state;
  struct dec d = decode_map(pack_hello_no_versions);
  assert_int_equal(d.r, SD_E_PROTO);
  assert_non_null(strstr(d.err.msg, "\"versions\" is missing"));
  d = decode_map(pack_hello_bad_features);
  assert_int_equal(d.r, SD_E_PROTO);
  assert_non_null(strstr(d.err.msg, "\"features\""));
  d = decode_map(pack_unknown_kind);
  assert_int_equal(d.r, SD_E_PROTO);
  assert_non_null(strstr(d.err.msg, "unknown kind"));
  d = decode_map(pack_push_no_seq);
  assert_int_equal(d.r, SD_E_PROTO);
  assert_non_null(strstr(d.err.msg, "\"seq\" is missing"));
  d = decode_map(pack_truncated_map); /* broken map: refused, nothing to free */
  assert_true(d.r < 0);
  assert_null(d.v);
}

static void pack_body(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "n", *(uint64_t *)ud);
}

static void test_push_ack_and_heartbeat_round_trip(void **state) {
  (void)state;
  struct wire_buf b = {0};
  uint64_t n = 99;
  struct dec d = decode_buf(&b, wire_push_encode(&b, 12, "node.assign", pack_body, &n));
  assert_int_equal(d.r, 0);
  assert_int_equal(d.m.kind, WIRE_SMSG_PUSH);
  assert_int_equal(d.m.push.seq, 12);
  assert_string_equal(d.m.push.topic, "node.assign");
  uint64_t got = 0;
  assert_int_equal(wire_get_uint(d.m.push.body, "n", &got), 0);
  assert_int_equal(got, 99);
  wire_value_free(d.v);
  d = decode_buf(&b, wire_ack_encode(&b, 12));
  assert_int_equal(d.m.kind, WIRE_SMSG_ACK);
  assert_int_equal(d.m.ack, 12);
  wire_value_free(d.v);
  d = decode_buf(&b, wire_heartbeat_encode(&b));
  assert_int_equal(d.m.kind, WIRE_SMSG_HEARTBEAT);
  wire_value_free(d.v);
  char topic[WIRE_TOPIC_MAX + 2];
  memset(topic, 'x', sizeof(topic) - 1);
  topic[sizeof(topic) - 1] = 0;
  assert_int_equal(wire_push_encode(&b, 1, topic, NULL, NULL), -EINVAL);
  assert_int_equal(wire_push_encode(&b, 0, "x", NULL, NULL), -EINVAL);
  wire_buf_release(&b);
}

static void test_requests_are_not_session_messages(void **state) {
  (void)state;
  struct wire_buf b = {0};
  struct dec d = decode_buf(&b, wire_request_encode(&b, 1, WIRE_OP_PING, NULL, NULL));
  assert_int_equal(d.r, 0);
  assert_int_equal(d.m.kind, WIRE_SMSG_NONE);
  assert_null(d.v);
}

static void test_version_pick_and_features(void **state) {
  (void)state;
  assert_int_equal(wire_version_pick(WIRE_VERSIONS_ALL, WIRE_VERSION_BIT(1)), 1);
  assert_int_equal(wire_version_pick(WIRE_VERSION_BIT(1), WIRE_VERSIONS_ALL), 1);
  assert_int_equal(wire_version_pick(WIRE_VERSIONS_ALL, WIRE_VERSION_BIT(9)), 0);
  assert_int_equal(wire_features_for_version(1), 0);
  assert_int_equal(wire_features_for_version(2), WIRE_FEATS_ALL);
}

static void test_roles_of_ops(void **state) {
  (void)state;
  assert_true(wire_role_allows(WIRE_OP_SECRET_LS, WIRE_ROLE_ADMIN));
  assert_false(wire_role_allows(WIRE_OP_SECRET_LS, WIRE_ROLE_WORKER));
  assert_false(wire_role_allows(WIRE_OP_SESSION_ECHO, WIRE_ROLE_ADMIN));
  assert_true(wire_role_allows(WIRE_OP_SESSION_ECHO, WIRE_ROLE_WORKER));
  assert_true(wire_role_allows(WIRE_OP_PING, WIRE_ROLE_WORKER));
  assert_false(wire_role_allows(WIRE_OP_PING, WIRE_ROLE_ANON));
  for (int op = 0; op < WIRE_OP__COUNT; op++) /* every op names its roles */
    assert_true(wire_op_roles((enum wire_op)op) != 0);
  assert_int_equal(wire_op_roles(WIRE_OP__COUNT), 0);
  assert_string_equal(wire_role_name(WIRE_ROLE_WORKER), "worker");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_hello_round_trip),
      cmocka_unit_test(test_server_hello_round_trip),
      cmocka_unit_test(test_unknown_versions_features_and_keys_are_ignored),
      cmocka_unit_test(test_refusals_name_the_field),
      cmocka_unit_test(test_push_ack_and_heartbeat_round_trip),
      cmocka_unit_test(test_requests_are_not_session_messages),
      cmocka_unit_test(test_version_pick_and_features),
      cmocka_unit_test(test_roles_of_ops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
