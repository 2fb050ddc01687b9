/*
 * Grants with unset owners (the service's user) and pinned versions: the record's
 * new form, the old 5-item records still read, pins that survive rotations and
 * move only with a new grant.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>

#include "store/internal.h"
#include "test_store_util.h"

static int grant_v(struct sfx *f, const char *ref, const char *svc, bool unset, uint32_t version) {
  struct store_batch *b;
  struct store_grant g;
  store_grant_defaults(&g);
  g.service = svc;
  g.uid_unset = g.gid_unset = unset;
  g.version = version;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_grant_add(b, &f->actor, ref, &g);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static const struct store_grant *find(const struct store_secret_info *i, const char *svc) {
  for (size_t k = 0; k < i->n_grants; k++)
    if (strcmp(i->grants[k].service, svc) == 0)
      return &i->grants[k];
  fail_msg("no grant for %s", svc);
  return NULL;
}

static void last_object(struct sfx *f, const char *want_substr) {
  struct store_audit_rec *recs = NULL;
  size_t n = 0;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  if (!strstr(recs[n - 1].object, want_substr))
    fail_msg("audit object \"%s\" lacks \"%s\"", recs[n - 1].object, want_substr);
  free(recs);
}

static void test_unset_owners_are_stored_and_shown(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct store_secret_info *i;
  assert_int_equal(put1(f, "pw", "v1", NULL), 0);
  assert_int_equal(grant_v(f, "pw", "web", true, 0), 0);
  last_object(f, "uid:service gid:service mode:0400 version:latest");
  assert_int_equal(grant_v(f, "pw", "api", false, 0), 0);
  assert_int_equal(store_secret_inspect(f->s, "pw", &i), 0);
  assert_true(find(i, "web")->uid_unset && find(i, "web")->gid_unset);
  assert_int_equal(find(i, "web")->mode, 0400);
  assert_int_equal(find(i, "web")->version, 0);
  assert_false(find(i, "api")->uid_unset);
  assert_int_equal(find(i, "api")->uid, 0);
  store_secret_info_free(i, 1);
  sfx_free(f);
}

static void test_pin_must_name_an_existing_version(void **state) {
  struct sfx *f = sfx_new(NULL);
  assert_int_equal(put1(f, "pw", "v1", NULL), 0);
  assert_int_equal(grant_v(f, "pw", "web", true, 2), -ENOENT);
  assert_int_equal(rot1(f, "pw", "v2", NULL), 0);
  assert_int_equal(grant_v(f, "pw", "web", true, 2), 0);
  last_object(f, "version:2");
  sfx_free(f);
}

static void test_pinned_version_survives_rotations_and_moves_with_a_new_grant(void **state) {
  struct store_opts o = {.keep_versions = 2};
  struct sfx *f = sfx_new(&o);
  struct store_secret_info *i;
  assert_int_equal(put1(f, "pw", "v1", NULL), 0);
  assert_int_equal(grant_v(f, "pw", "web", true, 1), 0);
  assert_int_equal(grant_v(f, "pw", "api", true, 0), 0);
  for (int k = 2; k <= 6; k++) {
    char v[8];
    snprintf(v, sizeof v, "v%d", k);
    assert_int_equal(rot1(f, "pw", v, NULL), 0);
  }
  /* keep 2 newest (5, 6) plus the pinned 1; 2..4 are gone */
  assert_int_equal(read_eq(f, "pw", 1, "v1"), 0);
  assert_int_equal(read_eq(f, "pw", 3, "v3"), -ENOENT);
  assert_int_equal(read_eq(f, "pw", 5, "v5"), 0);
  assert_int_equal(store_secret_inspect(f->s, "pw", &i), 0);
  assert_int_equal(i->n_versions, 3);
  assert_int_equal(i->versions[0].version, 1);
  assert_int_equal(find(i, "web")->version, 1);
  assert_int_equal(find(i, "api")->version, 0);
  uint64_t created = find(i, "web")->created_ns;
  store_secret_info_free(i, 1);
  /* a new grant moves the pin (the grant keeps its creation time) */
  assert_int_equal(grant_v(f, "pw", "web", true, 6), 0);
  assert_int_equal(store_secret_inspect(f->s, "pw", &i), 0);
  assert_int_equal(find(i, "web")->version, 6);
  assert_true(find(i, "web")->created_ns == created);
  store_secret_info_free(i, 1);
  /* version 1 is no longer pinned: the next rotation prunes it */
  assert_int_equal(rot1(f, "pw", "v7", NULL), 0);
  assert_int_equal(read_eq(f, "pw", 1, "v1"), -ENOENT);
  assert_int_equal(read_eq(f, "pw", 6, "v6"), 0);
  /* back to following the latest */
  assert_int_equal(grant_v(f, "pw", "web", true, 0), 0);
  last_object(f, "version:latest");
  sfx_free(f);
}

/* A grant record as stores before pins and unset owners wrote it (5 items), sealed
 * with the store's record key, still reads: owners as given, following the latest. */
static void test_old_five_item_grant_records_still_read(void **state) {
  struct sfx *f = sfx_new(NULL);
  char hex[33];
  uint8_t id[16], kb[16 + 3];
  assert_int_equal(put1(f, "pw", "v1", hex), 0);
  assert_int_equal(store_id_from_hex(hex, id), 0);
  memcpy(kb, id, 16);
  memcpy(kb + 16, "old", 3);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 5);
  msgpack_pack_str_with_body(&pk, "db/pw", 5);
  msgpack_pack_uint32(&pk, 1000);
  msgpack_pack_uint32(&pk, 1001);
  msgpack_pack_uint32(&pk, 0440);
  msgpack_pack_uint64(&pk, 12345);
  MDB_txn *txn;
  MDB_val k = {sizeof(kb), kb};
  assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
  assert_int_equal(store_rec_put(f->s, txn, DBI_GRANTS, &k, sb.data, sb.size, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  msgpack_sbuffer_destroy(&sb);
  sfx_reopen(f);
  struct store_secret_info *i;
  assert_int_equal(store_secret_inspect(f->s, "pw", &i), 0);
  const struct store_grant *g = find(i, "old");
  assert_string_equal(g->target, "db/pw");
  assert_int_equal(g->uid, 1000);
  assert_int_equal(g->gid, 1001);
  assert_false(g->uid_unset || g->gid_unset);
  assert_int_equal(g->mode, 0440);
  assert_int_equal(g->version, 0);
  assert_true(g->created_ns == 12345);
  store_secret_info_free(i, 1);
  /* re-granting rewrites it in the new form, keeping its creation time */
  assert_int_equal(grant_v(f, "pw", "old", true, 1), 0);
  assert_int_equal(store_secret_inspect(f->s, "pw", &i), 0);
  g = find(i, "old");
  assert_true(g->uid_unset && g->version == 1 && g->created_ns == 12345);
  store_secret_info_free(i, 1);
  sfx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unset_owners_are_stored_and_shown),
      cmocka_unit_test(test_pin_must_name_an_existing_version),
      cmocka_unit_test(test_pinned_version_survives_rotations_and_moves_with_a_new_grant),
      cmocka_unit_test(test_old_five_item_grant_records_still_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
