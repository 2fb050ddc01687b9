/* The node authorizer. See secretd/authorizer.h. */
#include "secretd/authorizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "crypto/secbuf.h"
#include "wire/frame.h"
#include "wire/msg.h"

/* What the reply's values may take: a frame less room for everything else
 * (at most STORE_DELIVER_MAX entries of ids, names and keys). */
#define AUTHZ_ENTRY_OVERHEAD 256u
#define AUTHZ_REPLY_BUDGET ((size_t)WIRE_MAX_FRAME - (size_t)STORE_DELIVER_MAX * AUTHZ_ENTRY_OVERHEAD)

int authz_check(struct store *s, struct authz_request *r) {
  if (!s || !r)
    return -EINVAL;
  r->code = 0;
  r->why = NULL;
  r->delivered = 0;
  int rc = store_deliver_read(s, r->node, r->service, r->task, r->items, r->n, &r->why);
  if (rc == SD_E_DENIED) {
    r->code = rc;
    return 0;
  }
  if (rc < 0)
    return rc;
  /* One reply is one frame: values that would not fit are not sent (nor
   * audited as delivered); the agent asks for them in another request. */
  size_t used = 0;
  for (size_t i = 0; i < r->n; i++) {
    struct store_delivery *it = &r->items[i];
    if (it->result != 0)
      continue;
    size_t need = secbuf_len(it->value) + AUTHZ_ENTRY_OVERHEAD;
    if (used + need > AUTHZ_REPLY_BUDGET) {
      secbuf_free(it->value);
      it->value = NULL;
      it->result = -EMSGSIZE;
      it->why = "does not fit this reply: ask for it in another request";
      continue;
    }
    used += need;
    r->delivered++;
  }
  return 0;
}

int authz_audit(struct store_batch *b, const struct authz_request *r, int hard) {
  struct store_actor a = {.node = r->node};
  char object[300];
  for (size_t i = 0; i < r->n; i++) {
    const struct store_delivery *it = &r->items[i];
    int outcome = hard ? hard : r->code ? r->code : it->result;
    const char *why = hard ? NULL : r->code ? r->why : it->why;
    snprintf(object, sizeof(object), "secret:%s id:%s version:%u service:%s task:%s%s%s",
             it->secret_name[0] ? it->secret_name : "?", it->secret_id, it->version, r->service,
             r->task, why ? " refused:" : "", why ? why : "");
    int rc = store_audit_note(b, &a, AUTHZ_ACTION, object, outcome);
    if (rc < 0)
      return rc;
  }
  return 0;
}

void authz_pack(msgpack_packer *pk, const struct authz_request *r) {
  msgpack_pack_map(pk, 1);
  wire_pack_str(pk, "secrets");
  msgpack_pack_array(pk, (uint32_t)r->n);
  for (size_t i = 0; i < r->n; i++) {
    const struct store_delivery *it = &r->items[i];
    bool ok = it->result == 0 && it->value;
    msgpack_pack_map(pk, ok ? 4 : 3);
    wire_pack_kv_str(pk, "secret_id", it->secret_id);
    wire_pack_kv_uint(pk, "version", it->version);
    if (ok) {
      wire_pack_kv_str(pk, "name", it->secret_name);
      wire_pack_str(pk, "value"); /* straight from secret memory into the reply buffer */
      msgpack_pack_bin_with_body(pk, secbuf_cdata(it->value), secbuf_len(it->value));
    } else {
      wire_pack_kv_str(pk, "refused", it->why ? it->why : "refused");
    }
  }
}

void authz_release(struct authz_request *r) {
  if (!r)
    return;
  store_delivery_release(r->items, r->n);
  free(r->items);
  r->items = NULL;
  r->n = 0;
}
