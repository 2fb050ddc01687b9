/* Paged secret listing (store_secret_list_after): pages concatenate to the
 * whole listing, and a listing that continues strictly after the last name
 * it returned stays exact while secrets are created and removed between
 * pages (the contract the wire cursor of secret.ls relies on). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "test_store_util.h"

static int rm1(struct sfx *f, const char *ref) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_secret_remove(b, &f->actor, ref, false);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

/* One page after `after` (NULL: the first); returns the count, names copied into out. */
static size_t page(struct sfx *f, const char *after, size_t limit, char (*out)[65]) {
  struct store_secret_info *v = NULL;
  size_t n = 0;
  assert_int_equal(store_secret_list_after(f->s, after, after ? strlen(after) : 0, limit, &v, &n),
                   0);
  assert_true(n <= limit);
  for (size_t i = 0; i < n; i++)
    strcpy(out[i], v[i].name);
  store_secret_info_free(v, n);
  return n;
}

static void test_pages_concatenate_to_the_listing(void **state) {
  struct sfx *f = sfx_new(NULL);
  char name[16], got[400][65], buf[7][65], last[65] = "";
  /* created out of name order */
  for (int i = 0; i < 300; i++) {
    snprintf(name, sizeof(name), "n%03d", i * 7 % 300);
    assert_int_equal(put1(f, name, "v", NULL), 0);
  }
  assert_int_equal(put1(f, "n1", "v", NULL), 0); /* a prefix of n1xx: sorts before them */
  size_t total = 0, k;
  while ((k = page(f, total ? last : NULL, 7, buf)) > 0) {
    for (size_t i = 0; i < k; i++)
      strcpy(got[total++], buf[i]);
    strcpy(last, buf[k - 1]);
    assert_true(total <= 301);
  }
  assert_int_equal(total, 301);
  struct store_secret_info *all;
  size_t n;
  assert_int_equal(store_secret_list(f->s, &all, &n), 0);
  assert_int_equal(n, 301);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(got[i], all[i].name);
  store_secret_info_free(all, n);
  sfx_free(f);
}

static bool in(char (*list)[65], size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(list[i], s))
      return true;
  return false;
}

static void test_listing_is_stable_while_secrets_come_and_go(void **state) {
  struct sfx *f = sfx_new(NULL);
  char name[32], seen[600][65], buf[10][65], last[65] = "";
  char added_late[100][65], removed_early[100][65];
  size_t n_seen = 0, n_added = 0, n_removed = 0, k, round = 0;
  for (int i = 0; i < 200; i++) {
    snprintf(name, sizeof(name), "m%03d", i * 3);
    assert_int_equal(put1(f, name, "v", NULL), 0);
  }
  while ((k = page(f, n_seen ? last : NULL, 10, buf)) > 0) {
    for (size_t i = 0; i < k; i++) {
      assert_false(in(seen, n_seen, buf[i])); /* never twice */
      if (n_seen)
        assert_true(strcmp(buf[i], seen[n_seen - 1]) > 0); /* strictly ascending */
      strcpy(seen[n_seen++], buf[i]);
    }
    strcpy(last, buf[k - 1]);
    round++;
    /* between pages: one new name before the position (must not show), one
     * after it (must show), the last name returned removed (the position
     * need not exist), one name not yet seen removed (must not show) */
    snprintf(name, sizeof(name), "a%03zu", round);
    assert_int_equal(put1(f, name, "v", NULL), 0);
    if (atoi(last + 1) < 590) { /* within the original range: the listing ends */
      snprintf(name, sizeof(name), "m%03d", atoi(last + 1) + 1);
      assert_int_equal(put1(f, name, "v", NULL), 0);
      strcpy(added_late[n_added++], name);
    }
    assert_int_equal(rm1(f, last), 0);
    snprintf(name, sizeof(name), "m%03d", atoi(last + 1) + 6);
    if (atoi(last + 1) + 6 < 600 && rm1(f, name) == 0)
      strcpy(removed_early[n_removed++], name);
    if (round >= 100)
      fail_msg("round %zu, last %s, seen %zu", round, last, n_seen);
  }
  for (int i = 0; i < 200; i++) {
    snprintf(name, sizeof(name), "m%03d", i * 3);
    if (!in(removed_early, n_removed, name) && !in(seen, n_seen, name))
      fail_msg("%s existed throughout and was not listed", name);
  }
  for (size_t i = 0; i < n_added; i++)
    if (!in(seen, n_seen, added_late[i]))
      fail_msg("%s, added after the position, was not listed", added_late[i]);
  for (size_t i = 0; i < n_removed; i++)
    assert_false(in(seen, n_seen, removed_early[i]));
  for (size_t i = 0; i < n_seen; i++)
    assert_true(seen[i][0] == 'm'); /* nothing from before the position */
  assert_true(n_removed > 5 && n_added > 5);
  sfx_free(f);
}

static void test_hostile_positions(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct store_secret_info *v = NULL;
  size_t n = 99;
  char big[600];
  assert_int_equal(put1(f, "a", "v", NULL), 0);
  assert_int_equal(put1(f, "b", "v", NULL), 0);
  memset(big, 0xff, sizeof(big));
  /* past every name: an empty page, not an error */
  assert_int_equal(store_secret_list_after(f->s, big, 64, 10, &v, &n), 0);
  assert_int_equal(n, 0);
  store_secret_info_free(v, n);
  /* bytes that are no name at all still only position inside the names table */
  assert_int_equal(store_secret_list_after(f->s, "\x00", 1, 10, &v, &n), 0);
  assert_int_equal(n, 2);
  store_secret_info_free(v, n);
  assert_int_equal(store_secret_list_after(f->s, "a", 1, 10, &v, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].name, "b");
  store_secret_info_free(v, n);
  /* lengths LMDB cannot take are refused */
  assert_int_equal(store_secret_list_after(f->s, big, 0, 10, &v, &n), -EINVAL);
  assert_int_equal(store_secret_list_after(f->s, big, 512, 10, &v, &n), -EINVAL);
  assert_int_equal(store_secret_list_after(f->s, big, 511, 10, &v, &n), 0);
  assert_int_equal(n, 0);
  store_secret_info_free(v, n);
  sfx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pages_concatenate_to_the_listing),
      cmocka_unit_test(test_listing_is_stable_while_secrets_come_and_go),
      cmocka_unit_test(test_hostile_positions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
