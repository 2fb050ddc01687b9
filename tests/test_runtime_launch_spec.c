/*
 * Unit tests of the shared launch spec (runtime/launch_spec.h): every option's
 * accepted and refused forms with secret-launch's messages, validation of a whole
 * spec, capability resolution, seccomp content, and the msgpack form (round trip and
 * hostile inputs).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/caps.h"
#include "runtime/launch_spec.h"
#include "runtime/runtime.h"

static const char SECCOMP_OK[] =
    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],"
    "\"action\":\"SCMP_ACT_ERRNO\"}]}";

static int setup(void **state) {
  struct launch_spec *s = malloc(sizeof(*s));
  if (!s)
    return -1;
  launch_spec_init(s);
  *state = s;
  return 0;
}

static int teardown(void **state) {
  launch_spec_clear(*state);
  free(*state);
  return 0;
}

/* Apply by option name; expect success. */
static void ok(struct launch_spec *s, const char *opt, const char *v) {
  char err[LAUNCH_SPEC_ERRLEN] = "";
  int o = launch_spec_option_lookup(opt);
  assert_true(o >= 0);
  if (launch_spec_apply(s, (enum launch_opt)o, v, err) != 0)
    fail_msg("--%s %s refused: %s", opt, v ? v : "", err);
}

/* Apply by option name; expect -EINVAL and exactly msg. */
static void refused(struct launch_spec *s, const char *opt, const char *v, const char *msg) {
  char err[LAUNCH_SPEC_ERRLEN] = "";
  int o = launch_spec_option_lookup(opt);
  assert_true(o >= 0);
  assert_int_equal(launch_spec_apply(s, (enum launch_opt)o, v, err), -EINVAL);
  assert_string_equal(err, msg);
}

static void test_option_table_knows_the_shared_set_only(void **state) {
  const char *shared[] = {"rootfs", "mount", "memory", "cpus", "pids-limit", "cap-add",
                          "cap-drop", "seccomp-profile", "user", "read-only", "env",
                          "hostname", "workdir", "init", "stop-timeout", "restart",
                          "userns", "uidmap", "gidmap"};
  for (size_t i = 0; i < sizeof shared / sizeof *shared; i++) {
    int o = launch_spec_option_lookup(shared[i]);
    assert_true(o >= 0);
    assert_string_equal(launch_spec_option_name((enum launch_opt)o), shared[i]);
  }
  assert_false(launch_spec_option_has_arg(LAUNCH_OPT_READ_ONLY));
  assert_false(launch_spec_option_has_arg(LAUNCH_OPT_INIT));
  assert_false(launch_spec_option_has_arg(LAUNCH_OPT_USERNS));
  assert_true(launch_spec_option_has_arg(LAUNCH_OPT_UIDMAP));
  assert_true(launch_spec_option_has_arg(LAUNCH_OPT_MEMORY));
  assert_int_equal(launch_spec_option_lookup("secret"), -ENOENT);
  assert_int_equal(launch_spec_option_lookup("detach"), -ENOENT);
  assert_int_equal(launch_spec_option_lookup("--rootfs"), -ENOENT);
  assert_null(launch_spec_option_name(LAUNCH_OPT__COUNT));
}

static void test_sizes_accepted_and_refused(void **state) {
  struct launch_spec *s = *state;
  ok(s, "memory", "64m");
  assert_true(s->memory_bytes == 64 << 20);
  ok(s, "memory", "1G");
  assert_true(s->memory_bytes == (int64_t)1 << 30);
  ok(s, "memory", "512kb");
  assert_true(s->memory_bytes == 512 << 10);
  ok(s, "memory", "1048576");
  assert_true(s->memory_bytes == 1048576);
  const char *bad[] = {"", "0", "-1", "1x", "m", " 1m", "1m ", "99999999999999999999",
                       "9223372036854775807g"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char msg[128];
    snprintf(msg, sizeof msg, "--memory: expected a size such as 64m or 1g, got \"%s\"", bad[i]);
    refused(s, "memory", bad[i], msg);
  }
}

static void test_cpus_accepted_and_refused(void **state) {
  struct launch_spec *s = *state;
  ok(s, "cpus", "0.5");
  assert_true(s->cpu_quota_us == 50000);
  ok(s, "cpus", "2");
  assert_true(s->cpu_quota_us == 200000);
  ok(s, "cpus", ".01");
  assert_true(s->cpu_quota_us == 1000);
  ok(s, "cpus", "1.234567");
  assert_true(s->cpu_quota_us == 123456);
  const char *bad[] = {"", "0", "0.001", "abc", "1.5x", "4097", "-1", "1,5"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char msg[128];
    snprintf(msg, sizeof msg, "--cpus: expected a number such as 0.5 (>= 0.01), got \"%s\"",
             bad[i]);
    refused(s, "cpus", bad[i], msg);
  }
}

static void test_pids_and_stop_timeout(void **state) {
  struct launch_spec *s = *state;
  ok(s, "pids-limit", "100");
  assert_true(s->pids_max == 100);
  refused(s, "pids-limit", "0", "--pids-limit: expected a positive number, got \"0\"");
  refused(s, "pids-limit", "-5", "--pids-limit: expected a positive number, got \"-5\"");
  refused(s, "pids-limit", "1e3", "--pids-limit: expected a positive number, got \"1e3\"");
  assert_int_equal(s->stop_timeout_s, 10);
  ok(s, "stop-timeout", "0");
  assert_int_equal(s->stop_timeout_s, 0);
  ok(s, "stop-timeout", "86400");
  assert_int_equal(s->stop_timeout_s, 86400);
  refused(s, "stop-timeout", "86401", "--stop-timeout: expected seconds (0..86400), got \"86401\"");
  refused(s, "stop-timeout", "1s", "--stop-timeout: expected seconds (0..86400), got \"1s\"");
}

static void test_user_forms(void **state) {
  struct launch_spec *s = *state;
  ok(s, "user", "1000");
  assert_int_equal(s->uid, 1000);
  assert_int_equal(s->gid, 0);
  ok(s, "user", "1000:1001");
  assert_int_equal(s->gid, 1001);
  ok(s, "user", "4294967294:0");
  const char *bad[] = {"", "root", "1000:", ":5", "4294967295", "1:4294967295", "1:2:3", "-1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char msg[128];
    snprintf(msg, sizeof msg, "--user: expected UID[:GID] (numbers), got \"%s\"", bad[i]);
    refused(s, "user", bad[i], msg);
  }
}

static void test_mount_forms(void **state) {
  struct launch_spec *s = *state;
  ok(s, "mount", "/srv/data:/data");
  ok(s, "mount", "/srv/conf:/etc/app:ro");
  ok(s, "mount", "rel:/x:rw");
  assert_int_equal(s->n_mounts, 3);
  assert_string_equal(s->mounts[0].source, "/srv/data");
  assert_string_equal(s->mounts[0].target, "/data");
  assert_false(s->mounts[0].readonly);
  assert_true(s->mounts[1].readonly);
  assert_string_equal(s->mounts[1].target, "/etc/app");
  const char *bad[] = {"/a", ":/a", "/a:rel", "/a:/b:rx", "/a:/b:ro:x", "/a:"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    refused(s, "mount", bad[i], "--mount: expected SRC:/DST[:ro]");
  assert_int_equal(s->n_mounts, 3);
}

static void test_env_hostname_workdir_flags(void **state) {
  struct launch_spec *s = *state;
  ok(s, "env", "A=1");
  ok(s, "env", "EMPTY=");
  refused(s, "env", "NOEQ", "--env: expected K=V, got \"NOEQ\"");
  refused(s, "env", "=v", "--env: expected K=V, got \"=v\"");
  assert_int_equal(s->n_env, 2);
  ok(s, "hostname", "web");
  ok(s, "hostname", "web2");
  assert_string_equal(s->hostname, "web2");
  ok(s, "workdir", "/app");
  refused(s, "workdir", "app", "--workdir must be an absolute path");
  ok(s, "read-only", NULL);
  ok(s, "init", NULL);
  assert_true(s->read_only && s->init);
  ok(s, "rootfs", "/srv/web");
  assert_string_equal(s->rootfs, "/srv/web");
}

static void test_too_many_items_are_refused(void **state) {
  struct launch_spec *s = *state;
  for (int i = 0; i < LAUNCH_SPEC_MAX_ITEMS; i++)
    ok(s, "env", "K=V");
  refused(s, "env", "K=V", "too many --env options (max 64)");
  for (int i = 0; i < LAUNCH_SPEC_MAX_ITEMS; i++)
    ok(s, "cap-drop", "CHOWN");
  refused(s, "cap-drop", "CHOWN", "too many --cap-drop options (max 64)");
  char big[LAUNCH_SPEC_STR_MAX + 2];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  refused(s, "hostname", big, "--hostname: value longer than 4096 bytes");
}

static void test_restart_policies(void **state) {
  struct launch_spec *s = *state;
  assert_int_equal(s->restart, LAUNCH_RESTART_NO);
  ok(s, "restart", "always");
  assert_int_equal(s->restart, LAUNCH_RESTART_ALWAYS);
  ok(s, "restart", "on-failure");
  assert_int_equal(s->restart, LAUNCH_RESTART_ON_FAILURE);
  ok(s, "restart", "no");
  refused(s, "restart", "sometimes",
          "--restart: expected no, on-failure or always, got \"sometimes\"");
  refused(s, "restart", "", "--restart: expected no, on-failure or always, got \"\"");
  assert_string_equal(launch_restart_name(LAUNCH_RESTART_ON_FAILURE), "on-failure");
}

static void test_caps_names_and_resolution(void **state) {
  struct launch_spec *s = *state;
  char err[LAUNCH_SPEC_ERRLEN];
  uint64_t caps;
  refused(s, "cap-add", "NOPE", "--cap-add: unknown capability \"NOPE\"");
  refused(s, "cap-drop", "12", "--cap-drop: unknown capability \"12\"");
  assert_int_equal(launch_spec_caps(s, UINT64_MAX, &caps, err), 0);
  assert_true(caps == rt_caps_docker_default());
  ok(s, "cap-drop", "all");
  ok(s, "cap-add", "CAP_NET_ADMIN");
  assert_int_equal(launch_spec_caps(s, UINT64_MAX, &caps, err), 0);
  assert_true(caps == UINT64_C(1) << 12);
  /* not in the host's bounding set: refused at launch, with secret-launch's words */
  assert_int_equal(launch_spec_caps(s, UINT64_C(1) << 0, &caps, err), -EINVAL);
  assert_string_equal(err, "--cap-add: CAP_NET_ADMIN is not in the host's bounding set");
  ok(s, "cap-add", "ALL");
  assert_int_equal(launch_spec_caps(s, 0xff, &caps, err), -EINVAL);
}

static void test_seccomp_content_is_compiled_in_memory(void **state) {
  struct launch_spec *s = *state;
  char err[LAUNCH_SPEC_ERRLEN];
  ok(s, "seccomp-profile", "/local/profile.json");
  assert_string_equal(s->seccomp_path, "/local/profile.json");
  assert_false(s->seccomp_unconfined);
  assert_int_equal(launch_spec_set_seccomp(s, SECCOMP_OK, strlen(SECCOMP_OK), err), 0);
  assert_int_equal(s->seccomp_len, strlen(SECCOMP_OK));
  assert_int_equal(launch_spec_set_seccomp(s, "{\"defaultAction\":\"NOPE\"}", 24, err), -EINVAL);
  assert_true(strncmp(err, "seccomp: ", 9) == 0);
  assert_int_equal(launch_spec_set_seccomp(s, "not json", 8, err), -EINVAL);
  assert_int_equal(s->seccomp_len, strlen(SECCOMP_OK)); /* the good one stays */
  ok(s, "seccomp-profile", "unconfined");
  assert_true(s->seccomp_unconfined);
  assert_null(s->seccomp_json);
}

static void fill_full(struct launch_spec *s) {
  char err[LAUNCH_SPEC_ERRLEN];
  char *argv[] = {"/bin/sh", "-c", "echo hi", NULL};
  ok(s, "rootfs", "/srv/web");
  ok(s, "mount", "/srv/data:/data:ro");
  ok(s, "mount", "/srv/log:/log");
  ok(s, "memory", "64m");
  ok(s, "cpus", "0.5");
  ok(s, "pids-limit", "64");
  ok(s, "cap-add", "NET_ADMIN");
  ok(s, "cap-drop", "CHOWN");
  ok(s, "user", "1000:1000");
  ok(s, "read-only", NULL);
  ok(s, "env", "A=1");
  ok(s, "env", "B=two words");
  ok(s, "hostname", "web");
  ok(s, "workdir", "/app");
  ok(s, "init", NULL);
  ok(s, "stop-timeout", "3");
  ok(s, "restart", "on-failure");
  ok(s, "uidmap", "0:200000:1000");
  ok(s, "uidmap", "1000:300000:10");
  ok(s, "gidmap", "0:200000:65536");
  assert_int_equal(launch_spec_set_seccomp(s, SECCOMP_OK, strlen(SECCOMP_OK), err), 0);
  assert_int_equal(launch_spec_set_command(s, 3, argv, "usage", err), 0);
}

static void test_round_trip_keeps_every_field(void **state) {
  struct launch_spec *s = *state, d;
  char err[LAUNCH_SPEC_ERRLEN];
  msgpack_sbuffer sb, sb2;
  fill_full(s);
  assert_int_equal(launch_spec_validate(s, err), 0);
  msgpack_sbuffer_init(&sb);
  msgpack_sbuffer_init(&sb2);
  assert_int_equal(launch_spec_encode(s, &sb), 0);
  launch_spec_init(&d);
  if (launch_spec_decode(sb.data, sb.size, &d, err) != 0)
    fail_msg("decode: %s", err);
  assert_string_equal(d.rootfs, "/srv/web");
  assert_int_equal(d.argc, 3);
  assert_string_equal(d.argv[2], "echo hi");
  assert_null(d.argv[3]);
  assert_int_equal(d.n_mounts, 2);
  assert_true(d.mounts[0].readonly);
  assert_false(d.mounts[1].readonly);
  assert_string_equal(d.mounts[1].source, "/srv/log");
  assert_true(d.memory_bytes == 64 << 20 && d.cpu_quota_us == 50000 && d.pids_max == 64);
  assert_string_equal(d.cap_add[0], "NET_ADMIN");
  assert_string_equal(d.cap_drop[0], "CHOWN");
  assert_int_equal(d.uid, 1000);
  assert_int_equal(d.gid, 1000);
  assert_true(d.read_only && d.init);
  assert_int_equal(d.n_env, 2);
  assert_string_equal(d.env[1], "B=two words");
  assert_string_equal(d.hostname, "web");
  assert_string_equal(d.workdir, "/app");
  assert_int_equal(d.stop_timeout_s, 3);
  assert_int_equal(d.restart, LAUNCH_RESTART_ON_FAILURE);
  assert_int_equal(d.seccomp_len, strlen(SECCOMP_OK));
  assert_memory_equal(d.seccomp_json, SECCOMP_OK, d.seccomp_len);
  assert_null(d.seccomp_path); /* a local path never travels */
  assert_true(d.userns);
  assert_int_equal(d.n_uidmap, 2);
  assert_int_equal(d.n_gidmap, 1);
  assert_true(d.uidmap[1].inside == 1000 && d.uidmap[1].outside == 300000 &&
              d.uidmap[1].count == 10);
  assert_true(d.gidmap[0].inside == 0 && d.gidmap[0].outside == 200000 &&
              d.gidmap[0].count == 65536);
  /* re-encoding gives the same bytes */
  assert_int_equal(launch_spec_encode(&d, &sb2), 0);
  assert_int_equal(sb.size, sb2.size);
  assert_memory_equal(sb.data, sb2.data, sb.size);
  launch_spec_clear(&d);
  msgpack_sbuffer_destroy(&sb);
  msgpack_sbuffer_destroy(&sb2);
}

static void test_minimal_spec_round_trip_keeps_defaults(void **state) {
  struct launch_spec *s = *state, d;
  char err[LAUNCH_SPEC_ERRLEN];
  char *argv[] = {"/app", NULL};
  msgpack_sbuffer sb;
  ok(s, "rootfs", "/r");
  assert_int_equal(launch_spec_set_command(s, 1, argv, "u", err), 0);
  msgpack_sbuffer_init(&sb);
  assert_int_equal(launch_spec_encode(s, &sb), 0);
  launch_spec_init(&d);
  assert_int_equal(launch_spec_decode(sb.data, sb.size, &d, err), 0);
  assert_int_equal(d.stop_timeout_s, 10);
  assert_int_equal(d.restart, LAUNCH_RESTART_NO);
  assert_null(d.hostname);
  assert_int_equal(d.n_env + d.n_mounts + d.n_cap_add, 0);
  assert_false(d.userns);
  assert_int_equal(d.n_uidmap + d.n_gidmap, 0);
  launch_spec_clear(&d);
  msgpack_sbuffer_destroy(&sb);
}

static void test_command_is_required(void **state) {
  struct launch_spec *s = *state;
  char err[LAUNCH_SPEC_ERRLEN];
  assert_int_equal(launch_spec_set_command(s, 0, NULL, "X -- CMD", err), -EINVAL);
  assert_string_equal(err, "no command given (X -- CMD)");
  ok(s, "rootfs", "/r");
  assert_int_equal(launch_spec_validate(s, err), -EINVAL);
  assert_string_equal(err, "no command given");
}

/* Pack {"v":1,"rootfs":"/r","argv":["/a"], <extra key/value>} with a hook. */
typedef void (*extra_fn)(msgpack_packer *pk);
static int decode_with(extra_fn extra, int n_extra, char err[LAUNCH_SPEC_ERRLEN]) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  struct launch_spec d;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, (uint32_t)(3 + n_extra));
  msgpack_pack_str_with_body(&pk, "v", 1);
  msgpack_pack_uint8(&pk, 1);
  msgpack_pack_str_with_body(&pk, "rootfs", 6);
  msgpack_pack_str_with_body(&pk, "/r", 2);
  msgpack_pack_str_with_body(&pk, "argv", 4);
  msgpack_pack_array(&pk, 1);
  msgpack_pack_str_with_body(&pk, "/a", 2);
  if (extra)
    extra(&pk);
  launch_spec_init(&d);
  int r = launch_spec_decode(sb.data, sb.size, &d, err);
  /* on failure nothing is left owned */
  if (r < 0)
    assert_null(d.rootfs);
  launch_spec_clear(&d);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

static void x_unknown(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "privileged", 10);
  msgpack_pack_true(pk);
}
static void x_dup(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "rootfs", 6);
  msgpack_pack_str_with_body(pk, "/other", 6);
}
static void x_nul(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "hostname", 8);
  msgpack_pack_str_with_body(pk, "a\0b", 3);
}
static void x_bad_type(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "memory", 6);
  msgpack_pack_str_with_body(pk, "64m", 3);
}
static void x_negative(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "pids", 4);
  msgpack_pack_int64(pk, -1);
}
static void x_zero(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "memory", 6);
  msgpack_pack_uint8(pk, 0);
}
static void x_uid_max(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "uid", 3);
  msgpack_pack_uint32(pk, UINT32_MAX);
}
static void x_bad_mount(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "mounts", 6);
  msgpack_pack_array(pk, 1);
  msgpack_pack_array(pk, 3);
  msgpack_pack_str_with_body(pk, "/a", 2);
  msgpack_pack_str_with_body(pk, "rel", 3);
  msgpack_pack_false(pk);
}
static void x_bad_cap(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "cap_add", 7);
  msgpack_pack_array(pk, 1);
  msgpack_pack_str_with_body(pk, "SUPERPOWER", 10);
}
static void x_too_many_env(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "env", 3);
  msgpack_pack_array(pk, LAUNCH_SPEC_MAX_ITEMS + 1);
  for (int i = 0; i <= LAUNCH_SPEC_MAX_ITEMS; i++)
    msgpack_pack_str_with_body(pk, "A=1", 3);
}
static void x_bad_seccomp(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "seccomp", 7);
  msgpack_pack_bin_with_body(pk, "{}x", 3);
}
static void x_restart(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "restart", 7);
  msgpack_pack_str_with_body(pk, "forever", 7);
}
static void x_false_flag(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "init", 4);
  msgpack_pack_false(pk);
}

/* "uidmap": n ranges of width numbers each (3 is the right width). */
static void pack_maps(msgpack_packer *pk, const uint32_t (*m)[3], size_t n, size_t width) {
  msgpack_pack_str_with_body(pk, "uidmap", 6);
  msgpack_pack_array(pk, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    msgpack_pack_array(pk, (uint32_t)width);
    for (size_t j = 0; j < width; j++)
      msgpack_pack_uint32(pk, m[i][j]);
  }
}
static void x_userns_false(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "userns", 6);
  msgpack_pack_false(pk);
}
static void x_map_without_userns(msgpack_packer *pk) {
  static const uint32_t m[1][3] = {{0, 100000, 10}};
  pack_maps(pk, m, 1, 3);
}
static void x_userns(msgpack_packer *pk) {
  msgpack_pack_str_with_body(pk, "userns", 6);
  msgpack_pack_true(pk);
}
static void x_map_ok(msgpack_packer *pk) {
  static const uint32_t m[1][3] = {{0, 100000, 10}};
  x_userns(pk);
  pack_maps(pk, m, 1, 3);
}
static void x_map_empty(msgpack_packer *pk) {
  x_userns(pk);
  pack_maps(pk, NULL, 0, 3);
}
static void x_map_too_many(msgpack_packer *pk) {
  static const uint32_t m[RT_MAX_IDMAPS + 1][3] = {{0, 1, 1}, {1, 2, 1}, {2, 3, 1},
                                                   {3, 4, 1}, {4, 5, 1}, {5, 6, 1}};
  x_userns(pk);
  pack_maps(pk, m, RT_MAX_IDMAPS + 1, 3);
}
static void x_map_short(msgpack_packer *pk) {
  static const uint32_t m[1][3] = {{0, 100000, 10}};
  x_userns(pk);
  pack_maps(pk, m, 1, 2);
}
static void x_map_zero_count(msgpack_packer *pk) {
  static const uint32_t m[1][3] = {{0, 100000, 0}};
  x_userns(pk);
  pack_maps(pk, m, 1, 3);
}
static void x_map_no_root(msgpack_packer *pk) {
  static const uint32_t m[1][3] = {{1, 100000, 10}};
  x_userns(pk);
  pack_maps(pk, m, 1, 3);
}

static void test_hostile_userns_encodings_are_refused(void **state) {
  char err[LAUNCH_SPEC_ERRLEN];
  assert_int_equal(decode_with(x_map_ok, 2, err), 0);
  assert_int_equal(decode_with(x_userns_false, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_map_empty, 2, err), -EBADMSG);
  assert_string_equal(err, "launch spec: uidmap must be an array of 1 to 5 ranges");
  assert_int_equal(decode_with(x_map_too_many, 2, err), -EBADMSG);
  assert_int_equal(decode_with(x_map_short, 2, err), -EBADMSG);
  assert_string_equal(err, "launch spec: a uidmap range must be [inside, outside, count]");
  /* well-formed but against a rule: the runtime's message */
  assert_int_equal(decode_with(x_map_without_userns, 1, err), -EINVAL);
  assert_string_equal(err, "--uidmap/--gidmap given without --userns");
  assert_int_equal(decode_with(x_map_zero_count, 2, err), -EINVAL);
  assert_string_equal(err, "invalid --uidmap/--gidmap (1..5 non-overlapping ranges)");
  assert_int_equal(decode_with(x_map_no_root, 2, err), -EINVAL);
  assert_string_equal(err, "--uidmap/--gidmap must map container id 0 and the --user ids");
}

static void test_hostile_encodings_are_refused(void **state) {
  char err[LAUNCH_SPEC_ERRLEN];
  assert_int_equal(decode_with(NULL, 0, err), 0);
  assert_int_equal(decode_with(x_unknown, 1, err), -EBADMSG);
  assert_string_equal(err, "launch spec: unknown field \"privileged\"");
  assert_int_equal(decode_with(x_dup, 1, err), -EBADMSG);
  assert_string_equal(err, "launch spec: field \"rootfs\" given twice");
  assert_int_equal(decode_with(x_nul, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_bad_type, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_negative, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_zero, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_uid_max, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_too_many_env, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_restart, 1, err), -EBADMSG);
  assert_int_equal(decode_with(x_false_flag, 1, err), -EBADMSG);
  /* well-formed but against a rule: secret-launch's message */
  assert_int_equal(decode_with(x_bad_mount, 1, err), -EINVAL);
  assert_string_equal(err, "--mount: expected SRC:/DST[:ro]");
  assert_int_equal(decode_with(x_bad_cap, 1, err), -EINVAL);
  assert_string_equal(err, "--cap-add: unknown capability \"SUPERPOWER\"");
  assert_int_equal(decode_with(x_bad_seccomp, 1, err), -EINVAL);
  assert_true(strncmp(err, "seccomp: ", 9) == 0);
}

static void test_truncated_and_garbage_input_is_refused(void **state) {
  struct launch_spec *s = *state, d;
  char err[LAUNCH_SPEC_ERRLEN];
  msgpack_sbuffer sb;
  fill_full(s);
  msgpack_sbuffer_init(&sb);
  assert_int_equal(launch_spec_encode(s, &sb), 0);
  launch_spec_init(&d);
  for (size_t n = 0; n < sb.size; n++)
    assert_int_not_equal(launch_spec_decode(sb.data, n, &d, err), 0);
  char *longer = malloc(sb.size + 1);
  memcpy(longer, sb.data, sb.size);
  longer[sb.size] = (char)0xc0;
  assert_int_equal(launch_spec_decode(longer, sb.size + 1, &d, err), -EBADMSG);
  assert_string_equal(err, "launch spec: not one well-formed msgpack value within the spec's bounds");
  free(longer);
  assert_int_equal(launch_spec_decode("\x93\x01\x02\x03", 4, &d, err), -EBADMSG);
  /* counts that the input cannot hold are refused before anything is allocated */
  assert_int_equal(launch_spec_decode("\xdf\xff\xff\xff\xff\xa1v\x01", 8, &d, err), -EBADMSG);
  assert_int_equal(launch_spec_decode("\xdd\xff\xff\xff\xff\x01", 6, &d, err), -EBADMSG);
  /* nesting deeper than a spec has */
  assert_int_equal(launch_spec_decode("\x91\x91\x91\x91\x91\x01", 6, &d, err), -EBADMSG);
  /* ext types have no place in a spec */
  assert_int_equal(launch_spec_decode("\xd4\x01\x02", 3, &d, err), -EBADMSG);
  assert_int_equal(launch_spec_decode(sb.data, LAUNCH_SPEC_ENCODED_MAX + 1, &d, err), -E2BIG);
  assert_null(d.rootfs);
  msgpack_sbuffer_destroy(&sb);
}

static void test_fill_rt_gives_the_runtime_every_shared_field(void **state) {
  struct launch_spec *s = *state;
  struct rt_spec rt = {0};
  char *env[LAUNCH_SPEC_MAX_ITEMS + 1];
  struct rt_mount mounts[LAUNCH_SPEC_MAX_ITEMS];
  fill_full(s);
  launch_spec_fill_rt(s, &rt, env, mounts);
  assert_string_equal(rt.rootfs, "/srv/web");
  assert_string_equal(rt.hostname, "web");
  assert_string_equal(rt.cwd, "/app");
  assert_string_equal(rt.env[1], "B=two words");
  assert_null(rt.env[2]);
  assert_int_equal(rt.n_mounts, 2);
  assert_true(rt.mounts[0].readonly);
  assert_string_equal(rt.mounts[1].target, "/log");
  assert_int_equal(rt.uid, 1000);
  assert_true(rt.readonly_rootfs && rt.init);
  assert_true(rt.limits.memory_bytes == 64 << 20);
  assert_true(rt.limits.cpu_quota_us == 50000 && rt.limits.cpu_period_us == 100000);
  assert_true(rt.limits.pids_max == 64);
  assert_int_equal(rt.stop_timeout_ms, 3000);
  assert_null(rt.seccomp_profile); /* only content: the caller compiles seccomp_json */
  assert_true(rt.userns);
  assert_int_equal(rt.n_uidmap, 2);
  assert_int_equal(rt.uidmap[1].outside, 300000);
  assert_int_equal(rt.n_gidmap, 1);
  assert_int_equal(rt.gidmap[0].count, 65536);
}

static void test_fill_rt_without_maps_leaves_the_runtime_default(void **state) {
  struct launch_spec *s = *state;
  struct rt_spec rt = {0};
  char *env[LAUNCH_SPEC_MAX_ITEMS + 1];
  struct rt_mount mounts[LAUNCH_SPEC_MAX_ITEMS];
  ok(s, "rootfs", "/r");
  launch_spec_fill_rt(s, &rt, env, mounts);
  assert_false(rt.userns);
  ok(s, "userns", NULL);
  launch_spec_fill_rt(s, &rt, env, mounts);
  assert_true(rt.userns);
  assert_int_equal(rt.n_uidmap + rt.n_gidmap, 0); /* the runtime's 0:100000:65536 */
  assert_null(rt.uidmap);
}

static void test_userns_and_map_forms(void **state) {
  struct launch_spec *s = *state;
  ok(s, "userns", NULL);
  assert_true(s->userns);
  launch_spec_clear(s);
  ok(s, "gidmap", "0:100000:65536"); /* a map implies --userns, as in secret-launch */
  assert_true(s->userns);
  assert_int_equal(s->n_gidmap, 1);
  assert_int_equal(s->n_uidmap, 0);
  refused(s, "uidmap", "0:1", "--uidmap: expected CONTAINER:HOST:COUNT, got \"0:1\"");
  refused(s, "gidmap", "0:1:0", "--gidmap: expected CONTAINER:HOST:COUNT, got \"0:1:0\"");
  refused(s, "uidmap", "0:4294967295:2",
          "--uidmap: expected CONTAINER:HOST:COUNT, got \"0:4294967295:2\"");
  refused(s, "uidmap", "a:b:c", "--uidmap: expected CONTAINER:HOST:COUNT, got \"a:b:c\"");
  for (int i = 0; i < RT_MAX_IDMAPS; i++) {
    char m[64];
    snprintf(m, sizeof m, "%d:%d:10", i * 10, 100000 + i * 10);
    ok(s, "uidmap", m);
  }
  refused(s, "uidmap", "50:100050:10", "at most 5 --uidmap/--gidmap ranges");
  assert_int_equal(s->n_uidmap, RT_MAX_IDMAPS);
}

static void ready(struct launch_spec *s) {
  char err[LAUNCH_SPEC_ERRLEN];
  char *argv[] = {"/app", NULL};
  ok(s, "rootfs", "/r");
  assert_int_equal(launch_spec_set_command(s, 1, argv, "u", err), 0);
}

static void invalid(struct launch_spec *s, const char *msg) {
  char err[LAUNCH_SPEC_ERRLEN] = "";
  assert_int_equal(launch_spec_validate(s, err), -EINVAL);
  assert_string_equal(err, msg);
}

static void test_userns_rules_are_the_runtimes(void **state) {
  struct launch_spec *s = *state;
  char err[LAUNCH_SPEC_ERRLEN];
  const char *overlap = "invalid --uidmap/--gidmap (1..5 non-overlapping ranges)";
  const char *unmapped = "--uidmap/--gidmap must map container id 0 and the --user ids";
  ready(s);
  ok(s, "userns", NULL);
  ok(s, "user", "1000:1000");
  assert_int_equal(launch_spec_validate(s, err), 0); /* the default range maps both */
  ok(s, "user", "70000:1000"); /* beyond 0..65535 */
  invalid(s, unmapped);
  ok(s, "user", "1000:1000");
  ok(s, "uidmap", "1:100000:65535"); /* container id 0 is not mapped */
  invalid(s, unmapped);
  launch_spec_clear(s);
  ready(s);
  ok(s, "uidmap", "0:100000:1000");
  ok(s, "uidmap", "999:200000:10"); /* overlaps inside */
  invalid(s, overlap);
  launch_spec_clear(s);
  ready(s);
  ok(s, "uidmap", "0:100000:1000");
  ok(s, "uidmap", "1000:100500:10"); /* overlaps outside */
  invalid(s, overlap);
  launch_spec_clear(s);
  ready(s);
  ok(s, "user", "5:7");
  ok(s, "uidmap", "0:100000:10");
  ok(s, "gidmap", "0:100000:5"); /* gid 7 is not mapped */
  invalid(s, unmapped);
  ok(s, "gidmap", "5:300000:5");
  assert_int_equal(launch_spec_validate(s, err), 0);
  s->userns = false; /* maps of a spec made by hand, without --userns */
  invalid(s, "--uidmap/--gidmap given without --userns");
  s->userns = true;
  s->uidmap[0].count = 0; /* as a decoder could see it */
  invalid(s, overlap);
  s->uidmap[0] = (struct rt_idmap){UINT32_MAX - 2, 1, 5}; /* wraps */
  invalid(s, overlap);
}

static void test_host_owner_maps_container_ids(void **state) {
  struct launch_spec *s = *state;
  char err[LAUNCH_SPEC_ERRLEN] = "";
  uint32_t u = 7, g = 7;
  assert_int_equal(launch_spec_host_owner(s, 1000, 1001, &u, &g, err), 0);
  assert_true(u == 1000 && g == 1001); /* no user namespace: the same ids */
  ok(s, "userns", NULL);
  assert_int_equal(launch_spec_host_owner(s, 0, 1000, &u, &g, err), 0);
  assert_true(u == RT_DEFAULT_IDMAP_OUTSIDE && g == RT_DEFAULT_IDMAP_OUTSIDE + 1000);
  u = g = 7;
  assert_int_equal(launch_spec_host_owner(s, 65536, 0, &u, &g, err), -ERANGE);
  assert_string_equal(err, "owner 65536:0 is not mapped in the user namespace");
  assert_true(u == 7 && g == 7); /* untouched on failure */
  ok(s, "uidmap", "0:200000:100");
  ok(s, "uidmap", "1000:300000:10");
  ok(s, "gidmap", "0:400000:2000");
  assert_int_equal(launch_spec_host_owner(s, 1005, 1999, &u, &g, err), 0);
  assert_true(u == 300005 && g == 401999);
  assert_int_equal(launch_spec_host_owner(s, 500, 0, &u, &g, err), -ERANGE);
  assert_string_equal(err, "owner 500:0 is not mapped in the user namespace");
  assert_int_equal(launch_spec_host_owner(s, 0, 2000, &u, &g, err), -ERANGE);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_option_table_knows_the_shared_set_only),
      T(test_sizes_accepted_and_refused),
      T(test_cpus_accepted_and_refused),
      T(test_pids_and_stop_timeout),
      T(test_user_forms),
      T(test_mount_forms),
      T(test_env_hostname_workdir_flags),
      T(test_too_many_items_are_refused),
      T(test_restart_policies),
      T(test_caps_names_and_resolution),
      T(test_seccomp_content_is_compiled_in_memory),
      T(test_round_trip_keeps_every_field),
      T(test_minimal_spec_round_trip_keeps_defaults),
      T(test_command_is_required),
      T(test_hostile_encodings_are_refused),
      T(test_truncated_and_garbage_input_is_refused),
      T(test_fill_rt_gives_the_runtime_every_shared_field),
      T(test_fill_rt_without_maps_leaves_the_runtime_default),
      T(test_userns_and_map_forms),
      T(test_userns_rules_are_the_runtimes),
      T(test_host_owner_maps_container_ids),
      T(test_hostile_userns_encodings_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
