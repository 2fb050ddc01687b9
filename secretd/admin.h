/*
 * Admin API requests inside secretd. A request is checked against the
 * handler table {op, prepare, run, pack, flags}; writes run in the group
 * commit queue, reads run on the loop thread and their audit record goes
 * through the queue; the reply is sent only after the batch that holds the
 * request's audit record committed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>

#include "secretd/commit_queue.h"
#include "secretd/identity.h"
#include "secretd/peer.h"
#include "store/services.h"
#include "store/identity.h"
#include "store/store.h"
#include "wire/proto.h"

struct server;
struct admin_conn;
struct secbuf;
struct wire_session;
struct tls_listener;

/*
 * One protocol session whose requests go through the dispatch below: a
 * local admin on the Unix socket (admin.c) or a node over TLS (listen.c).
 * Counted references: the owner's link plus one per request in flight; the
 * last unref calls release (NULL: free).
 */
struct admin_conn {
  struct admin_conn *prev, *next; /* the owner's list */
  struct server *server;
  struct wire_session *wc;  /* NULL once closed */
  struct store_actor actor; /* who the audit names */
  unsigned refs;
  /* End the connection from our side (a reply could not be written). */
  void (*drop)(struct admin_conn *c);
  void (*release)(struct admin_conn *c);
  /* Network peers (listen.c): checked before every request (deny list,
   * latest serial); sets *role to the peer's current role. NULL: the
   * session's role stands. A negative return refuses the request (audited,
   * answered) and then ends the connection. */
  int (*recheck)(struct admin_conn *c, uint32_t *role);
  /* admin socket */
  uv_pipe_t *pipe; /* ours until the transport takes it (or it is refused) */
  struct peer_cred cred;
  uv_timer_t linger; /* a refused peer lingers: see admin.c refuse_with() */
  bool lingering;
  struct admin_conn *lnext;
  /* network peers */
  struct tls_listener *listener;
  char addr[64];             /* the peer's IP address */
  char actor_name[80];       /* node id, or anonymous@addr */
  struct identity_peer peer; /* as authorized (role refreshed per request) */
  int refused;               /* <0: refused at the handshake (dropped on the next turn) */
  uint64_t seen_written;     /* listen.c: the session's last_seen already in the store */
};

/* Take one reference / give one back (the last calls c->release). */
void admin_conn_ref(struct admin_conn *c);
void admin_conn_unref(struct admin_conn *c);
/*
 * The dispatch of one request of c's session, for every listener: the
 * recheck (if any), then the one role check (the op's roles against the
 * peer's), then the op's handler through the group commit; a refusal is
 * audited (note) and answered like any refused request.
 */
void admin_dispatch(struct admin_conn *c, const struct wire_request *req);
/* A frame the wire layer refused (and answered): audited. */
void admin_refused(struct admin_conn *c, const char *op, int code);

#define ADMIN_REF_MAX 128
#define ADMIN_NAME_MAX 65
#define ADMIN_TARGET_MAX 300
#define ADMIN_SERVICE_MAX 128

/* The audit action of a request whose op is not one of ours: a fixed word,
 * never bytes of the request. */
#define ADMIN_ACTION_UNKNOWN "request.unknown"
#define ADMIN_ACTION_MALFORMED "request.malformed"

/* One admin request from decoding until its reply. */
struct admin_req {
  struct cq_item item;        /* first: the queue links items */
  struct server *server;
  struct admin_conn *conn;    /* holds a reference; may be closed meanwhile */
  uint64_t id;
  const struct admin_op *op;  /* NULL: unknown or malformed (action says which) */
  enum wire_op opcode;        /* when op is set */
  const char *action;         /* static: the op's name or ADMIN_ACTION_* */
  struct store_actor actor;
  /* The caller's node id, from its verified certificate (checked against the
   * store by the identity layer); "" on the admin socket. Worker ops refuse
   * a request without one. */
  char node_id[STORE_NODE_MAX + 1];
  int code;                   /* outcome of prepare (read result, arg errors) */
  const char *errmsg;         /* static message for !ok replies, or NULL */
  /* arguments */
  char name[ADMIN_NAME_MAX + 1], ref[ADMIN_REF_MAX + 1];
  char service[ADMIN_SERVICE_MAX + 1], target[ADMIN_TARGET_MAX + 1];
  bool force, has_target;
  bool drop_after;           /* refused by the recheck: end the connection after the reply */
  uint32_t uid, gid, mode;
  bool uid_unset, gid_unset; /* grant.add without uid/gid: the service's user */
  uint32_t pin_version;      /* grant.add "version": 0 = follow the latest */
  /* services (admin_services.c) */
  char node[STORE_NODE_MAX + 1], cursor[ADMIN_NAME_MAX + 1];
  uint8_t *spec; /* the launch spec as decoded, validated and re-encoded (malloc) */
  size_t spec_len;
  struct store_service_info *svcs;
  size_t n_svcs;
  char errbuf[320]; /* a dynamic errmsg (the launch spec's rule that failed) */
  struct secbuf *value;
  struct store_label *labels;
  size_t n_labels;
  uint64_t after_seq, since_ns, limit;
  struct wire_page page;      /* listings: limit and cursor (wire/proto.h) */
  bool has_expect;
  uint64_t expect_seq;
  uint8_t expect_hash[32];
  /* results; ret_id/ret_name: what a write acted on, resolved in its txn */
  char ret_id[33], ret_name[65];
  uint32_t version;
  struct store_secret_info *info;
  size_t n_info;
  size_t n_page;              /* listings: entries of info/recs in this page's reply */
  struct store_audit_rec *recs;
  size_t n_recs;
  bool more;
  struct store_audit_verdict verdict;
  /* cluster identity (admin_identity_ops.c) */
  struct secbuf *token;              /* a new join token's text (secret; reply only) */
  uint8_t token_hash[32];
  int64_t token_expires_s;           /* also: node.rm's deny-until */
  struct store_token_info token_info;
  struct store_node *nodes;
  size_t n_nodes;
  struct store_node node_rec;        /* node.inspect, node.rm */
  /* worker ops (node_ops.c) */
  struct node_req *nodereq;
  /* a write that may change nodes' assignments (dispatch_hook.c) */
  struct dispatch_pending *dpending;
  /* node.join / node.renew (network peers) */
  uint8_t *csr, *old_cert, *pop;
  size_t csr_len, old_cert_len, pop_len;
  char hostname[STORE_HOSTNAME_MAX + 1];
  struct identity_issued issued;
  /* a slow read on the thread pool */
  uv_work_t work;
  struct admin_req *slow_next;
};

enum {
  ADMIN_WRITE = 1 << 0, /* a store write op, run inside a batch (audited by the store) */
  ADMIN_READ = 1 << 1,  /* read on the loop thread; an audit note goes through a batch */
  ADMIN_SLOW = 1 << 2,  /* a read that may take seconds: slow() runs on the thread pool */
};

struct admin_op {
  /* Loop thread: take the arguments (already checked against the schema by
   * wire/proto.c: types, required keys, lengths) into rq; for quick reads
   * also do the read. Returns 0 or an error that becomes the reply (and is
   * audited). */
  int (*prepare)(struct admin_req *rq, const msgpack_object *args);
  /* Worker thread, inside a batch: the store op with its audit record. */
  int (*run)(struct store_batch *b, struct admin_req *rq);
  /* Loop thread: pack the "result" map of a successful reply. */
  void (*pack)(msgpack_packer *pk, const struct admin_req *rq);
  unsigned flags;
  const char *object_prefix; /* audit object for notes: "<prefix><ref or name>" */
  /* ADMIN_SLOW: a thread-pool thread, no batch: the read itself. */
  int (*slow)(struct admin_req *rq);
};

/* admin_ops.c: an op's optional hook on the loop thread with the outcome r,
 * before the reply (limiters, logs, cutting sessions); NULL when none. Kept
 * apart from struct admin_op so that its table stays positional. */
typedef void (*admin_after_fn)(struct admin_req *rq, int r);
admin_after_fn admin_op_after(enum wire_op op);

/* admin_services.c: the service ops' handlers (prepare, run, pack). */
/* Copy the string argument key (its type and bounds checked by the schema,
 * wire/proto.c) into buf of cap bytes, NUL-terminated. Returns 0, -ENOENT
 * when absent, or too_long when it does not fit (the caller's own error, so
 * that the store's rule names it). */
int admin_arg_str(const msgpack_object *args, const char *key, char *buf, size_t cap,
                  int too_long);

int admin_prep_service_create(struct admin_req *rq, const msgpack_object *args);
int admin_run_service_create(struct store_batch *b, struct admin_req *rq);
/* After dispatch_write_bounded() returned r < 0 with f (worker thread, in
 * rq's batch): when the write was rolled back, write rq's refusal audit
 * record and, for a set that would not fit (-E2BIG), set rq's message (the
 * node, the size it would reach and the limit). Returns r, or the error
 * writing the record. */
struct dispatch_fit;
int admin_refuse_unfit(struct store_batch *b, struct admin_req *rq, const struct dispatch_fit *f,
                       int r);
void admin_pack_service_create(msgpack_packer *pk, const struct admin_req *rq);
int admin_prep_service_ls(struct admin_req *rq, const msgpack_object *args);
void admin_pack_service_ls(msgpack_packer *pk, const struct admin_req *rq);
int admin_prep_service_inspect(struct admin_req *rq, const msgpack_object *args);
void admin_pack_service_inspect(msgpack_packer *pk, const struct admin_req *rq);
int admin_prep_service_rm(struct admin_req *rq, const msgpack_object *args);
int admin_run_service_rm(struct store_batch *b, struct admin_req *rq);
void admin_pack_service_name(msgpack_packer *pk, const struct admin_req *rq);
/* admin_services.c: release what the service ops hold in rq. */
void admin_req_clear_services(struct admin_req *rq);

/* admin_identity_ops.c */
int admin_prep_join_token(struct admin_req *rq, const msgpack_object *args);
int admin_run_join_token(struct store_batch *b, struct admin_req *rq);
void admin_pack_join_token(msgpack_packer *pk, const struct admin_req *rq);
int admin_prep_node_ls(struct admin_req *rq, const msgpack_object *args);
void admin_pack_node_ls(msgpack_packer *pk, const struct admin_req *rq);
int admin_prep_node_inspect(struct admin_req *rq, const msgpack_object *args);
void admin_pack_node_inspect(msgpack_packer *pk, const struct admin_req *rq);
int admin_prep_node_rm(struct admin_req *rq, const msgpack_object *args);
int admin_run_node_rm(struct store_batch *b, struct admin_req *rq);
void admin_pack_node_rm(msgpack_packer *pk, const struct admin_req *rq);
void admin_after_node_rm(struct admin_req *rq, int r);
int admin_prep_node_hello(struct admin_req *rq, const msgpack_object *args);
int admin_run_node_hello(struct store_batch *b, struct admin_req *rq);
void admin_pack_node_hello(msgpack_packer *pk, const struct admin_req *rq);
int admin_prep_cluster_update(struct admin_req *rq, const msgpack_object *args);
int admin_run_cluster_update(struct store_batch *b, struct admin_req *rq);
void admin_pack_cluster_update(msgpack_packer *pk, const struct admin_req *rq);
/* node_ops.c: the worker ops' handlers: node.assignments, node.deliver, task.report.
 * The node is rq->node_id (the verified caller), never an argument. */
int node_prep_assignments(struct admin_req *rq, const msgpack_object *args);
int node_run_assignments(struct store_batch *b, struct admin_req *rq);
void node_pack_assignments(msgpack_packer *pk, const struct admin_req *rq);
int node_prep_deliver(struct admin_req *rq, const msgpack_object *args);
int node_run_deliver(struct store_batch *b, struct admin_req *rq);
void node_pack_deliver(msgpack_packer *pk, const struct admin_req *rq);
int node_prep_task_report(struct admin_req *rq, const msgpack_object *args);
int node_run_task_report(struct store_batch *b, struct admin_req *rq);
void node_pack_task_report(msgpack_packer *pk, const struct admin_req *rq);
/* node_ops.c: release what the worker ops hold in rq (values wiped). NULL ok. */
void node_req_clear(struct admin_req *rq);
int admin_prep_node_join(struct admin_req *rq, const msgpack_object *args);
int admin_run_node_join(struct store_batch *b, struct admin_req *rq);
void admin_pack_node_join(msgpack_packer *pk, const struct admin_req *rq);
void admin_after_node_join(struct admin_req *rq, int r);
int admin_prep_node_renew(struct admin_req *rq, const msgpack_object *args);
int admin_run_node_renew(struct store_batch *b, struct admin_req *rq);
void admin_pack_node_renew(msgpack_packer *pk, const struct admin_req *rq);
void admin_after_node_renew(struct admin_req *rq, int r);

/* admin_ops.c: the handler of a decoded op (NULL when out of range). */
const struct admin_op *admin_op_get(enum wire_op op);
/* admin_ops.c: audit object of a request ("secret:<ref>", "audit", ...). */
void admin_req_object(const struct admin_req *rq, char *buf, size_t len);
/* admin_ops.c: release arguments and results (the value is wiped). */
void admin_req_clear(struct admin_req *rq);
