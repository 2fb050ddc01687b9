/*
 * libFuzzer harness for the session messages (wire/session_msg.h): the
 * hello, push, ack and heartbeat decoder. A decoded message must satisfy
 * what the decoder promises (a client hello names at least one version, a
 * push has a seq of at least 1, a topic that fits and a map body), and a
 * decoded hello or push encodes again and decodes to the same fields, or the
 * harness aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/session_msg.h"

static void pack_body(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 0);
}

static void round_trip(const struct wire_smsg *m) {
  struct wire_buf b = {0};
  struct wire_value *v = NULL;
  struct wire_smsg m2;
  struct wire_error err;
  int n;
  if (m->kind == WIRE_SMSG_HELLO && !m->reply)
    n = wire_hello_encode_client(&b, m->hello.versions, m->hello.features, m->hello.resume);
  else if (m->kind == WIRE_SMSG_HELLO)
    n = wire_hello_encode_server(&b, m->hello.version, m->hello.versions, m->hello.features,
                                 m->hello.hb_ms, m->hello.hb_missed);
  else if (m->kind == WIRE_SMSG_PUSH)
    n = wire_push_encode(&b, m->push.seq, m->push.topic, pack_body, NULL);
  else
    return;
  if (n < 0) {
    wire_buf_release(&b);
    return;
  }
  if (wire_smsg_decode(b.data + 4, (size_t)n - 4, &v, &m2, &err) != 0 || m2.kind != m->kind ||
      m2.hello.versions != m->hello.versions || m2.hello.version != m->hello.version ||
      m2.hello.features != m->hello.features || m2.push.seq != m->push.seq ||
      strcmp(m2.push.topic, m->push.topic) != 0)
    abort();
  wire_value_free(v);
  wire_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wire_value *v = NULL;
  struct wire_smsg m;
  struct wire_error err;
  int r = wire_smsg_decode(data, size, &v, &m, &err);
  if (r < 0) {
    if (v || err.msg[0] == 0)
      abort();
    return 0;
  }
  if (m.kind == WIRE_SMSG_NONE) {
    if (v)
      abort();
    return 0;
  }
  if (m.kind == WIRE_SMSG_HELLO && !m.reply && (m.hello.versions & ~0xfffffffeu || !m.hello.versions))
    abort();
  if (m.kind == WIRE_SMSG_HELLO && m.reply && (m.hello.version < 1 || m.hello.version > 31))
    abort();
  if (m.kind == WIRE_SMSG_PUSH &&
      (m.push.seq == 0 || strlen(m.push.topic) > WIRE_TOPIC_MAX || !m.push.body ||
       m.push.body->type != MSGPACK_OBJECT_MAP))
    abort();
  round_trip(&m);
  wire_value_free(v);
  return 0;
}
