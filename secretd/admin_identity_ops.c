/*
 * Admin handlers of the cluster identity (issue 9): join-token, node ls /
 * inspect / rm and cluster update, over the admin socket (role ADMIN); the
 * join (node.join, anonymous TLS peers) and renewal (node.renew, a node's
 * own certificate) over the network listener (listen.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "base/error.h"
#include "crypto/join_token.h"
#include "secretd/admin.h"
#include "secretd/identity.h"
#include "secretd/listen.h"
#include "secretd/push_hook.h"
#include "secretd/log.h"
#include "secretd/serve.h"
#include "wire/msg.h"

#define TOKEN_DEFAULT_TTL_S (24u * 60u * 60u)

static int64_t now_s(void) { return (int64_t)time(NULL); }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int need_identity(struct admin_req *rq) {
  if (rq->server->identity)
    return 0;
  rq->errmsg = "this store has no cluster identity (run `secretd init-cluster`)";
  return STORE_ID_E_NOCLUSTER;
}

/* ---- join_token ---- */

int admin_prep_join_token(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o;
  int r;
  if ((r = need_identity(rq)) < 0)
    return r;
  o = wire_map_get(args, "role");
  if (o->via.str.size != 6 || memcmp(o->via.str.ptr, "worker", 6) != 0) {
    rq->errmsg = "only worker tokens exist for now (manager tokens come with high availability)";
    return -EINVAL;
  }
  snprintf(rq->ref, sizeof(rq->ref), "worker");
  o = wire_map_get(args, "rotate");
  rq->force = o && o->via.boolean; /* force = rotate */
  const msgpack_object *ttl = wire_map_get(args, "ttl_s"), *uses = wire_map_get(args, "uses");
  uint64_t ttl_s = ttl ? ttl->via.u64 : TOKEN_DEFAULT_TTL_S;
  rq->uid = uses ? (uint32_t)uses->via.u64 : 0; /* uid = uses_max */
  if ((r = store_token_info(rq->server->store, &rq->token_info)) < 0)
    return r;
  if (rq->token_info.present && !rq->force) {
    if (ttl || uses) {
      rq->errmsg = "a worker token exists: --ttl and --uses apply to a new token (add --rotate)";
      return -EINVAL;
    }
    return 0; /* show the status; the secret is not kept, so it cannot be shown again */
  }
  /* A new token. Its secret is hashed at once; the text goes back to the
   * admin only, once, in the reply. */
  const struct store_cluster *c = identity_cluster(rq->server->identity);
  uint8_t digest[JOIN_TOKEN_DIGEST_BYTES];
  struct secbuf *secret = NULL;
  if ((r = join_token_generate(c->ca_cert, c->ca_cert_len, NULL, 0, &rq->token, NULL)) < 0)
    return r;
  r = join_token_parse((const char *)secbuf_cdata(rq->token), JOIN_TOKEN_LEN, digest, &secret);
  if (r == 0)
    r = store_token_hash(rq->server->store, secret, rq->token_hash);
  secbuf_free(secret);
  if (r < 0)
    return r;
  rq->token_expires_s = ttl_s ? now_s() + (int64_t)ttl_s : 0;
  rq->token_info = (struct store_token_info){
      .present = true, .expires_s = rq->token_expires_s, .uses_max = rq->uid};
  return 0;
}

int admin_run_join_token(struct store_batch *b, struct admin_req *rq) {
  if (!rq->token) { /* status only */
    char obj[80];
    snprintf(obj, sizeof(obj), "join-token:worker status");
    int w = store_audit_note(b, &rq->actor, "join_token.show", obj, rq->code);
    return w < 0 ? w : rq->code;
  }
  return store_token_set(b, &rq->actor, rq->token_hash, rq->token_expires_s, rq->uid);
}

void admin_pack_join_token(msgpack_packer *pk, const struct admin_req *rq) {
  const struct store_token_info *t = &rq->token_info;
  msgpack_pack_map(pk, rq->token ? 5 : 4);
  if (rq->token) {
    wire_pack_str(pk, "token");
    msgpack_pack_str(pk, JOIN_TOKEN_LEN);
    msgpack_pack_str_body(pk, secbuf_cdata(rq->token), JOIN_TOKEN_LEN);
  }
  wire_pack_kv_uint(pk, "expires_s", (uint64_t)t->expires_s);
  wire_pack_kv_uint(pk, "uses_max", t->uses_max);
  wire_pack_kv_uint(pk, "uses_done", t->uses_done);
  wire_pack_kv_uint(pk, "created_ns", t->created_ns);
}

/* ---- node.ls / node.inspect ---- */

/* One page of nodes in id order, strictly after the cursor's id. The store
 * lists every node (a cluster has thousands at most: one read txn); the page
 * is cut here. */
int admin_prep_node_ls(struct admin_req *rq, const msgpack_object *args) {
  struct wire_page *pg = &rq->page;
  size_t skip = 0, n = 0;
  int r = wire_page_args(args, WIRE_LIST_NODES, 1, CA_ID_LEN, pg, &rq->errmsg);
  if (r < 0 || (r = store_node_list(rq->server->store, &rq->nodes, &rq->n_nodes)) < 0)
    return r;
  if (pg->has_after)
    while (skip < rq->n_nodes) {
      const char *id = rq->nodes[skip].id;
      size_t len = strlen(id), m = len < pg->after_len ? len : pg->after_len;
      int c = memcmp(id, pg->after, m);
      if (c > 0 || (c == 0 && len > pg->after_len))
        break;
      skip++;
    }
  n = rq->n_nodes - skip;
  rq->more = n > pg->limit;
  if (rq->more)
    n = pg->limit;
  memmove(rq->nodes, rq->nodes + skip, n * sizeof(*rq->nodes));
  rq->n_nodes = n;
  return 0;
}

static void pack_node(msgpack_packer *pk, const struct store_node *n, bool full,
                      uint64_t down_after_ms) {
  msgpack_pack_map(pk, full ? 10 : 7);
  wire_pack_kv_str(pk, "id", n->id);
  wire_pack_kv_str(pk, "hostname", n->hostname);
  wire_pack_kv_str(pk, "role", ca_role_name((enum ca_role)n->role) ?: "unknown");
  wire_pack_kv_str(pk, "status", identity_node_status(n, now_ns(), down_after_ms));
  wire_pack_kv_str(pk, "address", n->address);
  wire_pack_kv_uint(pk, "cert_expiry_s", (uint64_t)n->not_after_s);
  wire_pack_kv_uint(pk, "last_seen_ns", n->last_seen_ns);
  if (full) {
    char hex[2 * STORE_SERIAL_LEN + 1];
    sodium_bin2hex(hex, sizeof(hex), n->serial, sizeof(n->serial));
    wire_pack_kv_str(pk, "cert_serial", hex);
    wire_pack_kv_uint(pk, "created_ns", n->created_ns);
    wire_pack_kv_uint(pk, "updated_ns", n->updated_ns);
  }
}

void admin_pack_node_ls(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1 + rq->more);
  wire_pack_str(pk, "nodes");
  msgpack_pack_array(pk, rq->n_nodes);
  for (size_t i = 0; i < rq->n_nodes; i++)
    pack_node(pk, &rq->nodes[i], false, listen_down_after_ms(rq->server->tls_listener));
  if (rq->more) /* the cursor of the next page: after the last id of this one */
    wire_pack_page_next(pk, WIRE_LIST_NODES, rq->nodes[rq->n_nodes - 1].id,
                        strlen(rq->nodes[rq->n_nodes - 1].id));
}

static int node_ref(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o = wire_map_get(args, "ref");
  if (o->via.str.size >= sizeof(rq->ref)) {
    rq->errmsg = "no such node";
    return STORE_ID_E_UNKNOWN;
  }
  if (o->via.str.size) /* an empty string has a NULL pointer */
    memcpy(rq->ref, o->via.str.ptr, o->via.str.size);
  rq->ref[o->via.str.size] = 0;
  int r = store_node_get(rq->server->store, rq->ref, &rq->node_rec);
  if (r == -ENOENT) {
    /* never echo arbitrary bytes into the audit: the ref stays only when it
     * has the shape of an id */
    if (!ca_id_valid(rq->ref))
      snprintf(rq->ref, sizeof(rq->ref), "(not an id)");
    return STORE_ID_E_UNKNOWN;
  }
  return r;
}

int admin_prep_node_inspect(struct admin_req *rq, const msgpack_object *args) {
  return node_ref(rq, args);
}

void admin_pack_node_inspect(msgpack_packer *pk, const struct admin_req *rq) {
  pack_node(pk, &rq->node_rec, true, listen_down_after_ms(rq->server->tls_listener));
}

/* ---- node.rm ---- */

int admin_prep_node_rm(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o = wire_map_get(args, "force");
  rq->force = o && o->via.boolean;
  int r = node_ref(rq, args);
  if (r < 0)
    return r;
  if (rq->node_rec.role == CA_ROLE_MANAGER) {
    rq->errmsg = "the manager cannot be removed";
    return STORE_ID_E_ROLE;
  }
  if (!rq->force && strcmp(identity_node_status(&rq->node_rec, now_ns(), listen_down_after_ms(rq->server->tls_listener)), "ready") == 0) {
    rq->errmsg = "the node is up (seen within the heartbeat window): use --force to remove it";
    return -EBUSY;
  }
  rq->token_expires_s = identity_deny_until(&rq->node_rec, now_s()); /* deny until */
  return 0;
}

int admin_run_node_rm(struct store_batch *b, struct admin_req *rq) {
  return store_node_remove(b, &rq->actor, rq->ref, rq->token_expires_s, NULL);
}

void admin_pack_node_rm(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "id", rq->ref);
  wire_pack_kv_uint(pk, "denied_until_s", (uint64_t)rq->token_expires_s);
}

/* ---- cluster.update ---- */

int admin_prep_cluster_update(struct admin_req *rq, const msgpack_object *args) {
  int r;
  if ((r = need_identity(rq)) < 0)
    return r;
  uint64_t v = wire_map_get(args, "cert_expiry_s")->via.u64;
  snprintf(rq->ref, sizeof(rq->ref), "cert-expiry:%llus", (unsigned long long)v);
  if (v < CA_LIFETIME_MIN || v > CA_LIFETIME_MAX) {
    rq->errmsg = "--cert-expiry must be between 1h and 90d";
    return -ERANGE;
  }
  rq->uid = (uint32_t)v;
  return 0;
}

int admin_run_cluster_update(struct store_batch *b, struct admin_req *rq) {
  return store_cluster_set_cert_lifetime(b, &rq->actor, rq->uid, CA_LIFETIME_MIN,
                                         CA_LIFETIME_MAX);
}

void admin_pack_cluster_update(msgpack_packer *pk, const struct admin_req *rq) {
  /* Runs after the commit: the issuer picks up the new lifetime now. */
  (void)identity_reload(rq->server->identity);
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "cert_expiry_s", rq->uid);
}

/* ---- node.join (anonymous TLS peers) and node.renew (a node's own) ---- */

static int bin_dup(const msgpack_object *args, const char *key, uint8_t **ret, size_t *ret_len) {
  const msgpack_object *o = wire_map_get(args, key);
  if (!o)
    return 0;
  if (!(*ret = malloc(o->via.bin.size ? o->via.bin.size : 1)))
    return -ENOMEM;
  if (o->via.bin.size) /* an empty bin has a NULL pointer */
    memcpy(*ret, o->via.bin.ptr, o->via.bin.size);
  *ret_len = o->via.bin.size;
  return 0;
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int admin_prep_node_join(struct admin_req *rq, const msgpack_object *args) {
  int r;
  if ((r = need_identity(rq)) < 0)
    return r;
  const msgpack_object *tok = wire_map_get(args, "token");
  const msgpack_object *host = wire_map_get(args, "hostname");
  snprintf(rq->ref, sizeof(rq->ref), "%s", rq->conn->addr);
  if ((r = secbuf_from(tok->via.bin.ptr, tok->via.bin.size, &rq->token)) < 0 ||
      (r = bin_dup(args, "csr", &rq->csr, &rq->csr_len)) < 0 ||
      (r = bin_dup(args, "old_cert", &rq->old_cert, &rq->old_cert_len)) < 0 ||
      (r = bin_dup(args, "pop", &rq->pop, &rq->pop_len)) < 0)
    return r;
  if (!rq->old_cert != !rq->pop) {
    rq->errmsg = "old_cert and pop go together";
    return SD_E_PROTO;
  }
  if (host) {
    size_t n = host->via.str.size < STORE_HOSTNAME_MAX ? host->via.str.size : STORE_HOSTNAME_MAX;
    memcpy(rq->hostname, host->via.str.ptr, n);
  }
  return 0;
}

int admin_run_node_join(struct store_batch *b, struct admin_req *rq) {
  struct identity_join_req req = {
      .token = secbuf_cdata(rq->token),
      .token_len = secbuf_len(rq->token),
      .csr = rq->csr,
      .csr_len = rq->csr_len,
      .address = rq->conn->addr,
      .hostname = rq->hostname[0] ? rq->hostname : NULL,
      .old_cert = rq->old_cert,
      .old_cert_len = rq->old_cert_len,
      .pop = rq->pop,
      .pop_len = rq->pop_len,
  };
  int r = identity_join(rq->server->identity, b, &rq->actor, &req, now_s(), &rq->issued);
  /* libuv's pool threads never exit, so OpenSSL's per-thread state (the
   * thread's DRBGs) would outlive every join: release it now. */
  OPENSSL_thread_stop();
  return r;
}

void admin_pack_node_join(msgpack_packer *pk, const struct admin_req *rq) {
  const struct store_cluster *c = identity_cluster(rq->server->identity);
  msgpack_pack_map(pk, 6);
  wire_pack_kv_str(pk, "node_id", rq->issued.node_id);
  wire_pack_kv_str(pk, "role", ca_role_name(rq->issued.role));
  wire_pack_kv_str(pk, "cluster_id", c->cluster_id);
  wire_pack_str(pk, "cert");
  msgpack_pack_bin(pk, rq->issued.cert_len);
  msgpack_pack_bin_body(pk, rq->issued.cert, rq->issued.cert_len);
  wire_pack_str(pk, "ca");
  msgpack_pack_bin(pk, c->ca_cert_len);
  msgpack_pack_bin_body(pk, c->ca_cert, c->ca_cert_len);
  wire_pack_str(pk, "kept_id");
  rq->issued.kept_id ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

void admin_after_node_join(struct admin_req *rq, int r) {
  if (rq->server->identity)
    identity_limiter_record(rq->server->identity, rq->conn->addr, mono_ms(), r < 0);
  if (r == 0)
    log_info("node %s joined from %s%s", rq->issued.node_id, rq->conn->addr,
             rq->issued.kept_id ? " (returning, kept its id)" : "");
  else if (r != -ECANCELED)
    log_warn("join from %s refused: %s", rq->conn->addr, identity_strerror(r));
}

int admin_prep_node_renew(struct admin_req *rq, const msgpack_object *args) {
  int r;
  if ((r = need_identity(rq)) < 0)
    return r;
  snprintf(rq->ref, sizeof(rq->ref), "%s", rq->conn->peer.node_id);
  return bin_dup(args, "csr", &rq->csr, &rq->csr_len);
}

int admin_run_node_renew(struct store_batch *b, struct admin_req *rq) {
  int r = identity_renew(rq->server->identity, b, &rq->actor, rq->conn->peer.node_id, rq->csr,
                         rq->csr_len, now_s(), &rq->issued);
  OPENSSL_thread_stop(); /* as admin_run_node_join */
  return r;
}

void admin_pack_node_renew(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "node_id", rq->issued.node_id);
  wire_pack_str(pk, "cert");
  msgpack_pack_bin(pk, rq->issued.cert_len);
  msgpack_pack_bin_body(pk, rq->issued.cert, rq->issued.cert_len);
}

void admin_after_node_renew(struct admin_req *rq, int r) {
  struct admin_conn *c = rq->conn;
  /* The session that renewed goes on as the node with its new certificate
   * (the store now accepts only the new serial; the recheck of the next
   * request compares with this one). */
  if (r == 0 && c->wc && strcmp(c->peer.node_id, rq->issued.node_id) == 0) {
    memcpy(c->peer.serial, rq->issued.serial, sizeof(c->peer.serial));
    c->peer.not_after_s = (int64_t)rq->issued.not_after;
  }
  if (r == 0)
    log_info("node %s renewed its certificate", rq->ref);
  else if (r != -ECANCELED)
    log_warn("renewal of node %s refused: %s", rq->ref, identity_strerror(r));
}

/* After the commit: the removed node's live sessions end now (its later
 * handshakes and requests meet the deny list). */
void admin_after_node_rm(struct admin_req *rq, int r) {
  if (r != 0)
    return;
  unsigned n = listen_cut_node(rq->server->tls_listener, rq->ref, STORE_ID_E_DENIED,
                               "this node was removed from the cluster (deny list)");
  if (n)
    log_info("node %s removed: closed its %u live session(s)", rq->ref, n);
  push_hook_mark_node(rq->server, rq->ref, "node_removed"); /* its tasks show so */
}

/* ---- node.hello: a node's report at each connection ---- */

int admin_prep_node_hello(struct admin_req *rq, const msgpack_object *args) {
  int r;
  if ((r = need_identity(rq)) < 0)
    return r;
  const msgpack_object *host = wire_map_get(args, "hostname");
  snprintf(rq->ref, sizeof(rq->ref), "%s", rq->conn->peer.node_id);
  if (host) {
    size_t n = host->via.str.size < STORE_HOSTNAME_MAX ? host->via.str.size : STORE_HOSTNAME_MAX;
    memcpy(rq->hostname, host->via.str.ptr, n);
    for (size_t i = 0; i < n; i++) /* a host name, printable: it reaches `node ls` */
      if ((unsigned char)rq->hostname[i] < 0x21 || (unsigned char)rq->hostname[i] > 0x7e) {
        rq->errmsg = "hostname: printable ASCII without spaces";
        return SD_E_PROTO;
      }
  }
  return 0;
}

/* The record's last_seen, hostname (as reported) and address (as seen by
 * the listener, not as claimed), with one audit record per connection. */
int admin_run_node_hello(struct store_batch *b, struct admin_req *rq) {
  char object[400];
  int r = store_node_seen(b, rq->ref, now_ns(), rq->hostname[0] ? rq->hostname : NULL,
                          rq->conn->addr);
  snprintf(object, sizeof(object), "node:%.26s hostname:%.64s address:%.63s", rq->ref,
           rq->hostname[0] ? rq->hostname : "-", rq->conn->addr);
  int a = store_audit_note(b, &rq->actor, "node.hello", object, r);
  return r < 0 ? r : a;
}

void admin_pack_node_hello(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "node_id", rq->ref);
  wire_pack_kv_str(pk, "address", rq->conn->addr);
  wire_pack_kv_uint(pk, "down_after_ms", listen_down_after_ms(rq->server->tls_listener));
}
