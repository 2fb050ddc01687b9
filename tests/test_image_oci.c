/* Unit tests of image/oci.c: the OCI index, manifest and config parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image/digest.h"
#include "image/oci.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define MT_M "application/vnd.oci.image.manifest.v1+json"
#define MT_C "application/vnd.oci.image.config.v1+json"
#define MT_L "application/vnd.oci.image.layer.v1.tar+gzip"

static int parse_index(const char *s, struct img_index *x) { return img_index_parse(s, strlen(s), x); }

static void test_index_with_platforms_picks_linux_amd64(void **st) {
  struct img_index x;
  const char *j = "{\"schemaVersion\":2,\"manifests\":["
                  "{\"mediaType\":\"" MT_M "\",\"digest\":\"" D1 "\",\"size\":10,"
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                  "{\"mediaType\":\"" MT_M "\",\"digest\":\"" D2 "\",\"size\":20,"
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
                  "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}";
  assert_int_equal(parse_index(j, &x), 0);
  assert_int_equal(x.n, 2);
  assert_int_equal(img_index_pick(&x), 1);
  assert_string_equal(x.manifests[1].ref_name, "v1");
  assert_int_equal(x.manifests[1].size, 20);
  img_index_done(&x);
}

static void test_index_without_amd64_has_no_pick(void **st) {
  struct img_index x;
  const char *j = "{\"manifests\":[{\"mediaType\":\"" MT_M "\",\"digest\":\"" D1 "\",\"size\":1,"
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"s390x\"}}]}";
  assert_int_equal(parse_index(j, &x), 0);
  assert_int_equal(img_index_pick(&x), -ENOENT);
  img_index_done(&x);
}

static void test_index_single_manifest_without_platform_is_picked(void **st) {
  struct img_index x;
  const char *j = "{\"manifests\":[{\"mediaType\":\"" MT_M "\",\"digest\":\"" D1 "\",\"size\":1}]}";
  assert_int_equal(parse_index(j, &x), 0);
  assert_int_equal(img_index_pick(&x), 0);
  img_index_done(&x);
}

static void test_bad_digests_are_refused(void **st) {
  struct img_index x;
  const char *bad[] = {
      "{\"manifests\":[{\"digest\":\"sha512:11\",\"size\":1}]}",
      "{\"manifests\":[{\"digest\":\"sha256:ABCDEF\",\"size\":1}]}",
      "{\"manifests\":[{\"digest\":\"sha256:111111111111111111111111111111111111111111111111111111111111111G\",\"size\":1}]}",
      "{\"manifests\":[{\"digest\":\"" D1 "\",\"size\":-1}]}",
      "{\"manifests\":[{\"digest\":\"" D1 "\",\"size\":\"1\"}]}",
      "{\"manifests\":[{\"digest\":\"" D1 "\"}]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(parse_index(bad[i], &x), -EINVAL);
}

static void test_malformed_json_is_refused(void **st) {
  struct img_index x;
  const char *bad[] = {"", "[]", "{", "{\"manifests\":[]} x", "{\"manifests\":{}}",
                       "{\"schemaVersion\":1,\"manifests\":[]}", "nul"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(parse_index(bad[i], &x), -EINVAL);
  /* trailing whitespace is fine */
  assert_int_equal(parse_index("{\"manifests\":[]}\n ", &x), 0);
  img_index_done(&x);
}

static void test_oversized_and_deep_documents_are_refused(void **st) {
  struct img_index x;
  size_t n = IMG_MAX_JSON + 1;
  char *big = malloc(n + 1);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  big[n] = '\0';
  assert_int_equal(img_index_parse(big, n, &x), -EFBIG);
  free(big);
  char deep[512] = "{\"manifests\":[],\"a\":";
  for (int i = 0; i < 100; i++)
    strcat(deep, "[");
  assert_int_equal(parse_index(deep, &x), -EINVAL);
}

static void test_manifest_parses_config_and_layers(void **st) {
  struct img_manifest m;
  const char *j = "{\"schemaVersion\":2,\"mediaType\":\"" MT_M "\","
                  "\"config\":{\"mediaType\":\"" MT_C "\",\"digest\":\"" D1 "\",\"size\":5},"
                  "\"layers\":[{\"mediaType\":\"" MT_L "\",\"digest\":\"" D2 "\",\"size\":7},"
                  "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D1
                  "\",\"size\":8}]}";
  assert_int_equal(img_manifest_parse(j, strlen(j), &m), 0);
  assert_int_equal(m.n_layers, 2);
  assert_string_equal(m.config.hex, &D1[7]);
  assert_int_equal(m.layers[1].size, 8);
  img_manifest_done(&m);
}

static void test_manifest_with_unknown_layer_type_is_refused(void **st) {
  struct img_manifest m;
  const char *j = "{\"config\":{\"mediaType\":\"" MT_C "\",\"digest\":\"" D1 "\",\"size\":5},"
                  "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+encrypted\","
                  "\"digest\":\"" D2 "\",\"size\":7}]}";
  assert_int_equal(img_manifest_parse(j, strlen(j), &m), -ENOTSUP);
  const char *k = "{\"config\":{\"mediaType\":\"" MT_L "\",\"digest\":\"" D1 "\",\"size\":5},"
                  "\"layers\":[]}";
  assert_int_equal(img_manifest_parse(k, strlen(k), &m), -EINVAL);
}

static void test_config_fields_are_read(void **st) {
  struct img_config c;
  const char *j = "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"User\":\"1000:50\","
                  "\"WorkingDir\":\"/w\",\"Env\":[\"A=1\",\"PATH=/bin\"],\"Entrypoint\":[\"/e\"],"
                  "\"Cmd\":[\"-x\",\"y\"]}}";
  assert_int_equal(img_config_parse(j, strlen(j), &c), 0);
  assert_string_equal(c.user, "1000:50");
  assert_string_equal(c.workdir, "/w");
  assert_int_equal(c.env.n, 2);
  assert_string_equal(c.env.v[1], "PATH=/bin");
  assert_null(c.env.v[2]);
  assert_true(c.entrypoint.has);
  assert_string_equal(c.cmd.v[1], "y");
  img_config_done(&c);
  const char *e = "{}";
  assert_int_equal(img_config_parse(e, strlen(e), &c), 0);
  assert_null(c.user);
  assert_false(c.cmd.has);
  img_config_done(&c);
}

static void test_config_refuses_nul_bytes_and_bad_env(void **st) {
  struct img_config c;
  const char *nul = "{\"config\":{\"User\":\"ro\\u0000ot\"}}";
  assert_int_equal(img_config_parse(nul, strlen(nul), &c), -EINVAL);
  const char *env = "{\"config\":{\"Env\":[\"NOEQUALS\"]}}";
  assert_int_equal(img_config_parse(env, strlen(env), &c), -EINVAL);
  const char *cmd = "{\"config\":{\"Cmd\":[1]}}";
  assert_int_equal(img_config_parse(cmd, strlen(cmd), &c), -EINVAL);
}

static void test_digest_parse(void **st) {
  char hex[IMG_HEX_LEN + 1];
  assert_int_equal(img_digest_parse(D1, hex), 0);
  assert_int_equal(img_digest_parse("sha256:", hex), -EINVAL);
  assert_int_equal(img_digest_parse(D1 "1", hex), -EINVAL);
  char h[IMG_HEX_LEN + 1];
  img_sha256_hex("", 0, h);
  assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_index_with_platforms_picks_linux_amd64),
      cmocka_unit_test(test_index_without_amd64_has_no_pick),
      cmocka_unit_test(test_index_single_manifest_without_platform_is_picked),
      cmocka_unit_test(test_bad_digests_are_refused),
      cmocka_unit_test(test_malformed_json_is_refused),
      cmocka_unit_test(test_oversized_and_deep_documents_are_refused),
      cmocka_unit_test(test_manifest_parses_config_and_layers),
      cmocka_unit_test(test_manifest_with_unknown_layer_type_is_refused),
      cmocka_unit_test(test_config_fields_are_read),
      cmocka_unit_test(test_config_refuses_nul_bytes_and_bad_env),
      cmocka_unit_test(test_digest_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
