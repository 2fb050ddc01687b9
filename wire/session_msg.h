/*
 * Session messages: what the session layer (wire/session.h) itself sends,
 * next to the requests and responses of wire/proto.h. Every one is a map
 * with "v":1 and a kind "t"; requests and responses never carry "t":
 *
 *   hello (client)  {"v":1,"t":"hello","versions":[1,2],"features":["push","heartbeat"],
 *                    "resume":N}
 *   hello (server)  {"v":1,"t":"hello","version":2,"versions":[1,2],"features":[...],
 *                    "hb_ms":N,"hb_missed":N}   (features: those in use; versions: all it speaks)
 *   push  (server)  {"v":1,"t":"push","seq":N,"topic":str,"body":map}
 *   ack   (client)  {"v":1,"t":"ack","seq":N}          (cumulative: every seq <= N)
 *   heartbeat       {"v":1,"t":"hb"}                    (either side)
 *
 * Decoding is lenient where evolution needs it and strict elsewhere: unknown
 * keys, unknown feature names and versions beyond 31 are ignored (a newer
 * peer may add them); a known key with the wrong type, a missing required
 * key, an unknown kind or a hello offering no version is refused with
 * SD_E_PROTO and a message naming the field. docs/protocol.md has the rules.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "wire/msg.h"
#include "wire/proto.h"

/* Protocol versions this build speaks: 1 (requests and responses, hello
 * optional) and 2 (adds pushes and heartbeats). */
#define WIRE_PROTO_MIN 1u
#define WIRE_PROTO_MAX 2u
/* Versions are carried as a bitmask of 1..31 internally. */
#define WIRE_VERSION_BIT(v) (1u << (v))
#define WIRE_VERSIONS_ALL (WIRE_VERSION_BIT(1) | WIRE_VERSION_BIT(2))

/* Feature flags, named on the wire ("push", "heartbeat"). */
enum wire_feature {
  WIRE_FEAT_PUSH = 1u << 0,      /* server pushes with acks and resume (version >= 2) */
  WIRE_FEAT_HEARTBEAT = 1u << 1, /* heartbeats both ways (version >= 2) */
};
#define WIRE_FEATS_ALL (WIRE_FEAT_PUSH | WIRE_FEAT_HEARTBEAT)
#define WIRE_HELLO_MAX_LIST 64 /* entries of "versions"/"features" looked at */
#define WIRE_TOPIC_MAX 64      /* bytes of a push topic */

enum wire_smsg_kind {
  WIRE_SMSG_NONE = 0, /* not a session message: a request or a response */
  WIRE_SMSG_HELLO,
  WIRE_SMSG_PUSH,
  WIRE_SMSG_ACK,
  WIRE_SMSG_HEARTBEAT,
};

struct wire_hello {
  uint32_t versions; /* versions spoken (WIRE_VERSION_BIT mask): offered by a client,
                        all the server speaks in its answer (0 if it did not say) */
  uint32_t version;  /* server: the version chosen (0 in a client hello) */
  uint32_t features; /* enum wire_feature bits named (unknown names dropped) */
  uint64_t resume;   /* client: the last push seq it has processed (0: none) */
  uint32_t hb_ms;    /* server: heartbeat interval in force (0: none) */
  uint32_t hb_missed; /* server: heartbeats that may be missed before a drop */
};

struct wire_push {
  uint64_t seq;
  char topic[WIRE_TOPIC_MAX + 1];
  const msgpack_object *body; /* a map; valid while the decoded tree lives */
};

struct wire_smsg {
  enum wire_smsg_kind kind;
  bool reply;              /* hello: a server's answer (has "version") */
  struct wire_hello hello; /* WIRE_SMSG_HELLO */
  struct wire_push push;   /* WIRE_SMSG_PUSH */
  uint64_t ack;            /* WIRE_SMSG_ACK */
};

/*
 * Classify and decode one frame payload. Returns 0 with ret->kind set: for
 * WIRE_SMSG_NONE nothing is kept (decode the frame as a request or a
 * response), otherwise *ret_val owns the tree (free with wire_value_free;
 * it points into frame). Returns SD_E_PROTO or -ENOMEM with *err filled
 * (nothing to free): an undecodable frame, or a session message that breaks
 * the rules above.
 */
int wire_smsg_decode(const uint8_t *frame, size_t len, struct wire_value **ret_val,
                     struct wire_smsg *ret, struct wire_error *err);

/*
 * Encoders: like wire_request_encode (b must be empty; returns the frame
 * length, -ENOMEM or -EMSGSIZE; the caller releases b in every case).
 */
int wire_hello_encode_client(struct wire_buf *b, uint32_t versions, uint32_t features,
                             uint64_t resume);
int wire_hello_encode_server(struct wire_buf *b, uint32_t version, uint32_t versions,
                             uint32_t features, uint32_t hb_ms, uint32_t hb_missed);
/* body packed by pack_body (exactly one map; NULL: {}); topic at most
 * WIRE_TOPIC_MAX bytes (-EINVAL otherwise). */
int wire_push_encode(struct wire_buf *b, uint64_t seq, const char *topic, wire_pack_fn pack_body,
                     void *ud);
int wire_ack_encode(struct wire_buf *b, uint64_t seq);
int wire_heartbeat_encode(struct wire_buf *b);

/* The highest version in both masks, or 0 when they share none. */
uint32_t wire_version_pick(uint32_t ours, uint32_t theirs);
/* Features that a session of version v may use (pushes and heartbeats need 2). */
uint32_t wire_features_for_version(uint32_t v);
