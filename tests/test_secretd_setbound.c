/*
 * The bound on a node's assignment set (secretd/dispatch.h, dispatch_write_bounded;
 * store savepoints) on a real LMDB store: writes that would make a node's set
 * larger than DISPATCH_SET_MAX are rolled back inside their batch, with their
 * audit record, while the writes before them in the same batch count and stay;
 * the audit chain still verifies; a set filled to the bound still packs into one
 * node.assignments frame; rotations and state reports never raise the bound; a
 * grant to a service on another node, or to a service not created yet, passes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>
#include <string.h>

#include "secretd/admin.h"
#include "secretd/dispatch.h"
#include "secretd/serve.h"
#include "store/dispatch.h"
#include "test_store_util.h"
#include "wire/msg.h"

/* A spec (a map the way launch_spec encodes one) padded with pad bytes of env. */
static void spec_bytes(msgpack_sbuffer *sb, size_t pad) {
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_str(&pk, "rootfs", "/r");
  wire_pack_str(&pk, "argv");
  msgpack_pack_array(&pk, 1);
  wire_pack_str(&pk, "/a");
  wire_pack_str(&pk, "seccomp");
  msgpack_pack_bin(&pk, pad);
  char *p = calloc(1, pad ? pad : 1);
  memset(p, ' ', pad);
  msgpack_pack_bin_body(&pk, p, pad);
  free(p);
}

struct create_args {
  struct sfx *f;
  const char *name, *node;
  size_t pad;
};

static int create_write(struct store_batch *b, void *ud) {
  struct create_args *a = ud;
  msgpack_sbuffer sb;
  spec_bytes(&sb, a->pad);
  int r = store_service_create(b, &a->f->actor, a->name, a->node, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

struct grant_args {
  struct sfx *f;
  const char *secret, *service;
};

static int grant_write(struct store_batch *b, void *ud) {
  struct grant_args *a = ud;
  struct store_grant g;
  store_grant_defaults(&g);
  g.service = a->service;
  return store_grant_add(b, &a->f->actor, a->secret, &g);
}

/* Bounded create of name on node with a pad-byte spec, inside b. */
static int create_in(struct store_batch *b, struct sfx *f, const char *name, const char *node,
                     size_t pad, struct dispatch_fit *fit) {
  struct create_args a = {f, name, node, pad};
  return dispatch_write_bounded(b, node, NULL, create_write, &a, fit);
}

static int create1(struct sfx *f, const char *name, const char *node, size_t pad,
                   struct dispatch_fit *fit) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = create_in(b, f, name, node, pad, fit);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int grant1(struct sfx *f, const char *secret, const char *service,
                  struct dispatch_fit *fit) {
  struct store_batch *b;
  struct grant_args a = {f, secret, service};
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = dispatch_write_bounded(b, NULL, service, grant_write, &a, fit);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

/* node's set as the store holds it: its bound, and its real packed size. */
static size_t bound_of(struct sfx *f, const char *node, size_t *ret_packed) {
  struct wire_assignments a = {0};
  msgpack_sbuffer sb;
  msgpack_packer pk;
  size_t n = 0;
  assert_int_equal(dispatch_build(f->s, node, &a, NULL), 0);
  if (ret_packed) {
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(wire_assignments_pack(&pk, &a), 0);
    *ret_packed = sb.size;
    msgpack_sbuffer_destroy(&sb);
  }
  assert_int_equal(dispatch_set_bound(&a, &n), 0);
  wire_assignments_clear(&a);
  return n;
}

static bool service_exists(struct sfx *f, const char *name) {
  struct store_service_info *i = NULL;
  int r = store_service_inspect(f->s, name, &i);
  store_service_info_free(i, 1);
  return r == 0;
}

static size_t count_records(struct sfx *f, const char *action, const char *object_part,
                            const char *outcome_prefix) {
  struct store_audit_rec *recs;
  size_t n, hits = 0;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  for (size_t i = 0; i < n; i++)
    hits += strcmp(recs[i].action, action) == 0 && strstr(recs[i].object, object_part) &&
            strncmp(recs[i].outcome, outcome_prefix, strlen(outcome_prefix)) == 0;
  free(recs);
  return hits;
}

static void chain_verifies(struct sfx *f) {
  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
  assert_true(vd.ok);
}

#define PAD 400000 /* three such specs do not fit one frame, two do */

static void test_writes_of_one_batch_count_and_the_one_over_is_rolled_back(void **state) {
  (void)state;
  struct sfx *f = sfx_new(NULL);
  struct store_batch *b;
  struct dispatch_fit fit;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(create_in(b, f, "a1", "n1", PAD, &fit), 0);
  assert_int_equal(create_in(b, f, "a2", "n1", PAD, &fit), 0);
  /* the third sees the two before it in the same (uncommitted) batch */
  assert_int_equal(create_in(b, f, "a3", "n1", PAD, &fit), -E2BIG);
  assert_true(fit.rolled_back);
  assert_false(fit.counts);
  assert_string_equal(fit.node, "n1");
  assert_int_equal(fit.tasks, 3);
  assert_true(fit.bytes > DISPATCH_SET_MAX && fit.bytes < 3 * PAD + 4096);
  /* another node in the same batch is unaffected */
  assert_int_equal(create_in(b, f, "b1", "n2", PAD, &fit), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_true(service_exists(f, "a1") && service_exists(f, "a2") && service_exists(f, "b1"));
  assert_false(service_exists(f, "a3"));
  /* the rolled-back op left no record; the others did; the chain is whole */
  assert_int_equal(count_records(f, "service.create", "service:a3", ""), 0);
  assert_int_equal(count_records(f, "service.create", "service:a2", "ok"), 1);
  assert_int_equal(count_records(f, "service.create", "service:b1", "ok"), 1);
  chain_verifies(f);
  /* a write that fails on its own keeps its failure record and its error */
  assert_int_equal(create1(f, "a1", "n1", 10, &fit), -EEXIST);
  assert_false(fit.rolled_back);
  assert_int_equal(count_records(f, "service.create", "service:a1", "error:"), 1);
  chain_verifies(f);
  sfx_free(f);
}

static void test_a_node_filled_to_the_bound_refuses_the_next_grant_and_still_fits_a_frame(
    void **state) {
  (void)state;
  struct sfx *f = sfx_new(NULL);
  struct dispatch_fit fit;
  char id[33];
  assert_int_equal(put1(f, "db", "MARKER-v1", id), 0);
  assert_int_equal(create1(f, "a1", "n1", PAD, &fit), 0);
  assert_int_equal(create1(f, "a2", "n1", PAD, &fit), 0);
  size_t b2 = bound_of(f, "n1", NULL);
  /* what one task of a 70,000-byte pad adds besides its pad: probe (a name as long as a3), then roll back */
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(create_in(b, f, "p3", "n1", 70000, &fit), 0);
  store_batch_abort(b);
  assert_false(service_exists(f, "p3"));
  assert_int_equal(create1(f, "p3", "n1", 70000, &fit), 0);
  size_t per_task = bound_of(f, "n1", NULL) - b2 - 70000;
  assert_int_equal(create1(f, "zz", "n3", 10, &fit), 0); /* on another node */
  struct store_batch *rb;
  assert_int_equal(store_batch_begin(f->s, &rb), 0);
  assert_int_equal(store_service_remove(rb, &f->actor, "p3"), 0);
  assert_int_equal(store_batch_commit(rb), 0);
  assert_int_equal(bound_of(f, "n1", NULL), b2);
  /* fill to 8 bytes under the bound */
  size_t pad = DISPATCH_SET_MAX - 8 - b2 - per_task;
  assert_int_equal(create1(f, "a3", "n1", pad, &fit), 0);
  size_t packed = 0, full = bound_of(f, "n1", &packed);
  assert_int_equal(full, DISPATCH_SET_MAX - 8);
  assert_true(packed <= full);
  /* the node.assignments reply around it fits one frame */
  assert_true(full + DISPATCH_SET_RESERVE <= WIRE_MAX_FRAME);
  /* rotations (to versions of any width) and state reports never raise the bound */
  for (int i = 0; i < 130; i++)
    assert_int_equal(rot1(f, "db", "MARKER-vN", NULL), 0);
  struct store_batch *ub;
  assert_int_equal(store_batch_begin(f->s, &ub), 0);
  assert_int_equal(store_task_update(ub, &f->actor, "a3", 0, "abcdefghijklmno", NULL, 0), 0);
  assert_int_equal(store_batch_commit(ub), 0);
  assert_int_equal(bound_of(f, "n1", NULL), full);
  /* the next grant to a service on n1 is refused and leaves nothing */
  assert_int_equal(grant1(f, "db", "a2", &fit), -E2BIG);
  assert_true(fit.rolled_back);
  assert_true(fit.bytes > DISPATCH_SET_MAX && fit.bytes < DISPATCH_SET_MAX + 200);
  assert_int_equal(count_records(f, "grant.add", "service:a2", ""), 0);
  assert_int_equal(bound_of(f, "n1", NULL), full);
  /* a grant that fails on its own (no such secret) keeps its error and record */
  assert_int_equal(grant1(f, "nosuch", "a2", &fit), -ENOENT);
  assert_false(fit.rolled_back);
  assert_int_equal(count_records(f, "grant.add", "secret:nosuch", "error:not_found"), 1);
  /* as is the next service, however small */
  assert_int_equal(create1(f, "tiny", "n1", 0, &fit), -E2BIG);
  /* a grant to a service on another node, or to one not created yet, passes */
  assert_int_equal(grant1(f, "db", "zz", &fit), 0);
  assert_int_equal(grant1(f, "db", "later", &fit), 0);
  /* ...but that grant comes with the service: created on the full node, refused */
  assert_int_equal(create1(f, "later", "n1", 0, &fit), -E2BIG);
  assert_false(service_exists(f, "later"));
  chain_verifies(f);
  sfx_free(f);
}

static void test_the_task_count_bound_is_kept_too(void **state) {
  (void)state;
  struct sfx *f = sfx_new(NULL);
  struct store_batch *b;
  struct dispatch_fit fit;
  char name[16];
  msgpack_sbuffer sb;
  spec_bytes(&sb, 0);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  for (int i = 0; i < WIRE_ASSIGN_TASKS_MAX - 1; i++) {
    snprintf(name, sizeof(name), "s%04d", i);
    assert_int_equal(store_service_create(b, &f->actor, name, "n1", sb.data, sb.size), 0);
  }
  msgpack_sbuffer_destroy(&sb);
  assert_int_equal(create_in(b, f, "last", "n1", 0, &fit), 0);
  assert_int_equal(create_in(b, f, "over", "n1", 0, &fit), -E2BIG);
  assert_true(fit.counts && fit.rolled_back);
  assert_string_equal(fit.node, "n1");
  assert_int_equal(store_batch_commit(b), 0);
  assert_false(service_exists(f, "over"));
  size_t packed = 0;
  assert_true(bound_of(f, "n1", &packed) <= DISPATCH_SET_MAX);
  sfx_free(f);
}

/* A store written before the bound may hold a node over it: node.assignments
 * refuses with a message that says what to do, not the session's "too large". */
static void test_an_oversized_set_from_an_older_store_is_refused_with_a_clear_message(
    void **state) {
  (void)state;
  struct sfx *f = sfx_new(NULL);
  struct store_batch *b;
  msgpack_sbuffer sb;
  spec_bytes(&sb, PAD);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  for (int i = 0; i < 3; i++) { /* unbounded, as before the check */
    char name[8];
    snprintf(name, sizeof(name), "o%d", i);
    assert_int_equal(store_service_create(b, &f->actor, name, "n1", sb.data, sb.size), 0);
  }
  assert_int_equal(store_batch_commit(b), 0);
  msgpack_sbuffer_destroy(&sb);
  struct server srv = {0};
  struct admin_req rq = {0};
  msgpack_object args = {.type = MSGPACK_OBJECT_MAP};
  srv.store = f->s;
  rq.server = &srv;
  snprintf(rq.node_id, sizeof(rq.node_id), "n1");
  assert_int_equal(node_prep_assignments(&rq, &args), -E2BIG);
  assert_non_null(strstr(rq.errmsg, "larger than one frame"));
  node_req_clear(&rq);
  /* removing one brings it back */
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(store_service_remove(b, &f->actor, "o0"), 0);
  assert_int_equal(store_batch_commit(b), 0);
  struct admin_req rq2 = {0};
  rq2.server = &srv;
  snprintf(rq2.node_id, sizeof(rq2.node_id), "n1");
  assert_int_equal(node_prep_assignments(&rq2, &args), 0);
  node_req_clear(&rq2);
  sfx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_writes_of_one_batch_count_and_the_one_over_is_rolled_back),
      cmocka_unit_test(
          test_a_node_filled_to_the_bound_refuses_the_next_grant_and_still_fits_a_frame),
      cmocka_unit_test(test_the_task_count_bound_is_kept_too),
      cmocka_unit_test(test_an_oversized_set_from_an_older_store_is_refused_with_a_clear_message),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
