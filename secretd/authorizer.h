/*
 * The node authorizer (issue 11): may this node's task have these secret
 * versions? It answers only for a task that is placed on the asking node,
 * whose desired state is running, and whose service holds a grant resolving
 * to exactly the version asked for. Everything else (another node's task, an
 * old or future version, a revoked or never granted secret, a task not
 * running, an unknown task or secret) is refused. Every delivery and every
 * refusal is one audit record: node (the actor), task, service, secret,
 * version, and the reason of a refusal; never a value.
 *
 * Values are decrypted into secret memory (base/secbuf.h), packed straight
 * into the reply (a wire_buf, also secret memory), and wiped when the request
 * is released. Transport-independent: the node id is the verified caller's.
 * Thread use: authz_check on any thread (its own read snapshot); authz_audit
 * in the thread that holds the batch.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "store/dispatch.h"

#define AUTHZ_ACTION "secret.deliver"

struct authz_request {
  char node[STORE_NODE_MAX + 1]; /* the verified caller */
  char service[65];
  char task[33];
  struct store_delivery *items; /* n of them (malloc; authz_release frees), n <= STORE_DELIVER_MAX */
  size_t n;
  /* out */
  int code;        /* 0: the task was accepted (items say each); SD_E_DENIED: refused */
  const char *why; /* static reason when code is SD_E_DENIED */
  size_t delivered;
};

/* Fill r->items[i].secret_id/version for i < r->n before the check. Returns 0
 * (r->code says the verdict; an item whose value would overflow one reply
 * frame gets result -EMSGSIZE and no value: ask again), or a hard error (-EINVAL, -EBADMSG, SD_E_DECRYPT,
 * -ENOMEM, -errno) after which nothing is delivered: audit it like a refusal. */
int authz_check(struct store *s, struct authz_request *r);

/* Write one audit record per item (delivered: outcome ok; refused: denied,
 * with the reason in the object). hard: a hard error of authz_check (each
 * item is then recorded as failed with it). Returns 0 or the store's error. */
int authz_audit(struct store_batch *b, const struct authz_request *r, int hard);

/* Pack the reply's result map: {"secrets":[{"secret_id","name","version",
 * "value":bin} | {"secret_id","version","refused":reason}]}. */
void authz_pack(msgpack_packer *pk, const struct authz_request *r);

/* Wipe and free the values and the items. NULL ok. */
void authz_release(struct authz_request *r);
