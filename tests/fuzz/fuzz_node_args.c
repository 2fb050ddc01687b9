/*
 * libFuzzer harness: the worker ops' requests as secretd reads them
 * (node.assignments, node.deliver, task.report): the frame decoder and schema
 * (wire/proto.c), then each op's argument handling and store read
 * (secretd/node_ops.c, secretd/authorizer.c) against a real LMDB store made
 * once in a temporary directory, then the reply packing. No batch runs (the
 * store stays small); a refusal is fine, a crash or a leak is not.
 * Input: one request frame's payload (no length prefix).
 * Seeds: tests/fuzz/corpus/node_args (tests/fuzz/gen_assign_corpus.c).
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "crypto/keys.h"
#include "crypto/secbuf.h"
#include "secretd/admin.h"
#include "secretd/serve.h"
#include "store/services.h"
#include "wire/msg.h"
#include "wire/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct server srv;
static char dir[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st; (void)flag; (void)f;
  return remove(p);
}

static void cleanup(void) {
  store_close(srv.store);
  if (dir[0])
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A store with secret "db" granted to service "web" on node "n1". */
static void setup(void) {
  struct sd_key *k;
  struct store_batch *b;
  struct secbuf *v;
  struct store_grant g;
  struct store_actor a = {0};
  strcpy(dir, "/tmp/sdfuzznodeXXXXXX");
  if (!mkdtemp(dir) || sd_key_generate(&k) < 0 || store_init(dir, k, NULL) < 0 ||
      store_open(dir, k, NULL, &srv.store) < 0)
    abort();
  sd_key_free(k);
  atexit(cleanup);
  store_grant_defaults(&g);
  g.service = "web";
  if (store_batch_begin(srv.store, &b) < 0 || secbuf_from("fuzz-value", 10, &v) < 0 ||
      store_secret_create(b, &a, "db", v, NULL, 0, NULL) < 0 ||
      store_service_create(b, &a, "web", "n1", "\x81\xa1v\x01", 4) < 0 ||
      store_grant_add(b, &a, "db", &g) < 0 || store_batch_commit(b) < 0)
    abort();
  secbuf_free(v);
}

static const struct admin_op worker_ops[] = {
    {node_prep_assignments, node_run_assignments, node_pack_assignments, ADMIN_WRITE, "node:", NULL},
    {node_prep_deliver, node_run_deliver, node_pack_deliver, ADMIN_WRITE, "node:", NULL},
    {node_prep_task_report, node_run_task_report, node_pack_task_report, ADMIN_WRITE, "node:", NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wire_value *val = NULL;
  struct wire_request req;
  struct wire_error err;
  const struct admin_op *op;
  if (!srv.store)
    setup();
  if (wire_request_decode(data, size, &val, &req, &err) < 0)
    return 0;
  switch (req.opcode) {
  case WIRE_OP_NODE_ASSIGNMENTS: op = &worker_ops[0]; break;
  case WIRE_OP_NODE_DELIVER: op = &worker_ops[1]; break;
  case WIRE_OP_TASK_REPORT: op = &worker_ops[2]; break;
  default: wire_value_free(val); return 0;
  }
  struct admin_req *rq = calloc(1, sizeof(*rq));
  if (!rq)
    abort();
  rq->server = &srv;
  rq->op = op;
  snprintf(rq->node_id, sizeof(rq->node_id), "%s", (size & 1) ? "n1" : "n2");
  int r = op->prepare(rq, req.args);
  if (r == 0) {
    struct wire_buf out = {0};
    msgpack_packer pk;
    wire_buf_init(&out, &pk);
    op->pack(&pk, rq);
    wire_buf_release(&out);
  } else if (r > 0) {
    abort(); /* errors are negative */
  }
  node_req_clear(rq);
  free(rq);
  wire_value_free(val);
  return 0;
}
