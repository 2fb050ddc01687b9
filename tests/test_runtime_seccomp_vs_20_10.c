/*
 * The built-in default filter against Debian 12's Docker 20.10 default profile
 * (golang-github-docker-docker-dev, unpacked by scripts/deps.sh into PEERS_DIR), for the
 * capability sets none, Docker's default, Docker's default + CAP_SYS_ADMIN and
 * CAP_SYS_ADMIN alone:
 *   - it denies everything 20.10 denies, and allows everything 20.10 allows, except
 *     exactly the lines of runtime/seccomp_default_since_20.10.txt (CHANGES_FILE);
 * proven twice:
 *   - BPF: both filters are compiled and asked for every syscall number of x86_64, i386
 *     and x32 with several argument values (syscalls this libseccomp knows);
 *   - names: the built-in table's rules against the JSON's rules (also the syscalls
 *     newer than this libseccomp, which neither filter can name in BPF).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/caps.h"
#include "runtime/seccomp.h"
#include "runtime/seccomp_default.h"
#include "runtime/seccomp_profile.h"
#include "tests/test_runtime_seccomp_bpf.h"

#ifndef PEERS_DIR
#error "PEERS_DIR: the directory scripts/deps.sh unpacks the peers' profiles into (tests/seccomp.cmake)"
#endif
#ifndef CHANGES_FILE
#error "CHANGES_FILE: runtime/seccomp_default_since_20.10.txt (tests/seccomp.cmake)"
#endif
#define DOCKER_2010 PEERS_DIR "/docker-seccomp-default.json"
#define CAP(n) (UINT64_C(1) << (n))
#define NEVER UINT64_MAX

enum change { ALLOWED, DENIED, NARROWED };

struct row {
  char name[64];
  enum change change;
  uint64_t builtin, old;   /* capabilities needed; NEVER: not allowed at all */
  char release[16];
};

static struct row rows[128];
static size_t nrows;

/* ---- the list ---- */

static uint64_t parse_caps(const char *s) {
  static const struct { const char *name; int cap; } known[] = {
    {"CAP_SYS_ADMIN", CAP_SYS_ADMIN}, {"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
    {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH}, {"CAP_SYS_NICE", CAP_SYS_NICE},
    {"CAP_SYS_TIME", CAP_SYS_TIME}, {"CAP_SYS_MODULE", CAP_SYS_MODULE},
    {"CAP_SYS_BOOT", CAP_SYS_BOOT}, {"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
    {"CAP_SYSLOG", CAP_SYSLOG}, {"CAP_BPF", CAP_BPF}, {"CAP_PERFMON", CAP_PERFMON},
  };
  char buf[128], *save = NULL;
  uint64_t m = 0;

  if (!strcmp(s, "never"))
    return NEVER;
  if (!strcmp(s, "-"))
    return 0;
  snprintf(buf, sizeof(buf), "%s", s);
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    size_t i;
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
      if (!strcmp(t, known[i].name))
        break;
    if (i == sizeof(known) / sizeof(known[0]))
      fail_msg("%s: unknown capability %s", CHANGES_FILE, t);
    m |= CAP(known[i].cap);
  }
  return m;
}

static int load_rows(void **state) {
  FILE *f = fopen(CHANGES_FILE, "r");
  char line[512];
  unsigned n = 0;

  if (!f)
    return -1;
  nrows = 0;
  while (fgets(line, sizeof(line), f)) {
    char name[64], change[16], b[128], o[128], rel[16];
    n++;
    if (line[0] == '#' || line[strspn(line, " \t\n")] == 0)
      continue;
    if (sscanf(line, "%63s %15s %127s %127s %15s", name, change, b, o, rel) != 5 ||
        nrows == sizeof(rows) / sizeof(rows[0])) {
      fprintf(stderr, "%s:%u: want SYSCALL CHANGE BUILT-IN 20.10 DOCKER [NOTE]\n",
              CHANGES_FILE, n);
      fclose(f);
      return -1;
    }
    struct row *r = &rows[nrows++];
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->release, sizeof(r->release), "%s", rel);
    r->change = !strcmp(change, "allowed")  ? ALLOWED
                : !strcmp(change, "denied") ? DENIED
                : !strcmp(change, "narrowed") ? NARROWED : (enum change)-1;
    if ((int)r->change < 0) {
      fprintf(stderr, "%s:%u: change is allowed, denied or narrowed\n", CHANGES_FILE, n);
      fclose(f);
      return -1;
    }
    r->builtin = parse_caps(b);
    r->old = parse_caps(o);
  }
  fclose(f);
  return nrows ? 0 : -1;
}

static bool holds(uint64_t need, uint64_t caps) { return need != NEVER && (need & caps) == need; }

/* Is `name` expected in the "allowed more" (want_denied=false) or "denied more" set? */
static bool expected(const struct row *r, uint64_t caps, bool want_denied) {
  bool b = holds(r->builtin, caps), o = holds(r->old, caps);
  switch (r->change) {
  case ALLOWED: return !want_denied && b && !o;
  case DENIED: return want_denied && o && !b;
  case NARROWED: return want_denied && o && b;
  }
  return false;
}

/* ---- small name sets ---- */

struct set {
  char names[1024][64];
  size_t n;
};

static bool set_has(const struct set *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->names[i], name))
      return true;
  return false;
}

static void set_add(struct set *s, const char *name) {
  if (set_has(s, name))
    return;
  size_t len = strlen(name);
  assert_true(s->n < sizeof(s->names) / sizeof(s->names[0]));
  assert_true(len < sizeof(s->names[0])); /* a longer name would be cut, not compared */
  memcpy(s->names[s->n++], name, len + 1);
}

static bool quiet;   /* the mutation test expects failures */

/* got must equal the rows expected for caps (only rows passing `filter`). */
static bool compare_sets(const char *what, uint64_t caps, bool denied, const struct set *got,
                         bool (*filter)(const char *)) {
  bool ok = true;

  for (size_t i = 0; i < got->n; i++) {
    bool listed = false;
    for (size_t k = 0; k < nrows; k++)
      if (!strcmp(rows[k].name, got->names[i]) && expected(&rows[k], caps, denied))
        listed = true;
    if (!listed) {
      if (!quiet)
        print_error("%s, caps %#llx: %s is %s than Docker 20.10 but not listed so in %s\n", what,
                  (unsigned long long)caps, got->names[i], denied ? "denied more" : "allowed more",
                  CHANGES_FILE);
      ok = false;
    }
  }
  for (size_t k = 0; k < nrows; k++)
    if (expected(&rows[k], caps, denied) && (!filter || filter(rows[k].name)) &&
        !set_has(got, rows[k].name)) {
      if (!quiet)
        print_error("%s, caps %#llx: %s is listed as %s but is not\n", what,
                  (unsigned long long)caps, rows[k].name,
                  denied ? "denied more" : "allowed more");
      ok = false;
    }
  if (!ok && !quiet)
    print_error("%s differs from %s\n", what, CHANGES_FILE);
  return ok;
}

/* ---- BPF: every syscall number, several arguments ---- */

struct bpf {
  struct sock_filter *insns;
  size_t n;
};

static void export_ctx(scmp_filter_ctx ctx, struct bpf *b) {
  void *insns = NULL;
  assert_int_equal(rt_scmp_export(ctx, &insns, &b->n), 0);
  b->insns = insns;
  seccomp_release(ctx);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "r");
  char *buf;
  long n;

  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  rewind(f);
  buf = calloc(1, (size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void builtin_bpf(uint64_t caps, struct bpf *b) {
  scmp_filter_ctx ctx = NULL;
  uint64_t sel = rt_seccomp_default_selection(caps, rt_scmp_kernel_version());
  assert_int_equal(rt_seccomp_default_build(sel, &ctx), 0);
  export_ctx(ctx, b);
}

static void docker2010_bpf(uint64_t caps, struct bpf *b) {
  char err[RT_SCMP_ERRLEN];
  scmp_filter_ctx ctx = NULL;
  unsigned flags;
  size_t len;
  char *json = slurp(DOCKER_2010, &len);

  if (rt_seccomp_profile_build(json, len, caps, &ctx, &flags, err) < 0)
    fail_msg("%s: %s", DOCKER_2010, err);
  free(json);
  /* libseccomp's plain linear layout, not the binary tree the built-in uses */
  assert_int_equal(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 1), 0);
  export_ctx(ctx, b);
}

static bool resolvable(const char *name) {
  return seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name) >= 0 ||
         seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, name) >= 0 ||
         seccomp_syscall_resolve_name_arch(SCMP_ARCH_X32, name) >= 0;
}

static bool compare_bpf(uint64_t caps) {
  static const uint64_t arg0s[] = {0, 1, 2, 8, 16, 38, 39, 40, 41, 0x11, 0x10000000, 0x20000,
                                   0xffffffff, 0x7E020000, UINT64_C(0x100000000)};
  static const struct { uint32_t audit, scmp; int base; } arches[] = {
    {AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64, 0},
    {AUDIT_ARCH_I386, SCMP_ARCH_X86, 0},
    {AUDIT_ARCH_X86_64, SCMP_ARCH_X32, 0x40000000},
  };
  struct set *more = calloc(1, sizeof(*more)), *less = calloc(1, sizeof(*less));
  struct bpf ours, old;
  unsigned checked = 0, old_denied = 0;

  assert_non_null(more);
  assert_non_null(less);
  builtin_bpf(caps, &ours);
  docker2010_bpf(caps, &old);
  for (size_t a = 0; a < sizeof(arches) / sizeof(arches[0]); a++)
    for (int nr = 0; nr < 1100; nr++)
      for (size_t k = 0; k < sizeof(arg0s) / sizeof(arg0s[0]); k++) {
        uint64_t args[6] = {arg0s[k], arg0s[k], arg0s[k], 0, 0, 0};
        int sys = arches[a].base + nr;
        uint32_t x = bpf_sim(ours.insns, ours.n, arches[a].audit, sys, args);
        uint32_t y = bpf_sim(old.insns, old.n, arches[a].audit, sys, args);
        bool xa = x == SCMP_ACT_ALLOW, ya = y == SCMP_ACT_ALLOW;
        assert_int_not_equal(x, BPF_SIM_BAD);
        assert_int_not_equal(y, BPF_SIM_BAD);
        checked++;
        old_denied += !ya;
        if (xa == ya)
          continue;
        char *name = seccomp_syscall_resolve_num_arch(arches[a].scmp, sys);
        if (!name)
          fail_msg("caps %#llx arch %#x nr %d arg %#llx: built-in %#x, 20.10 %#x, and "
                   "libseccomp has no name for it", (unsigned long long)caps,
                   arches[a].audit, sys, (unsigned long long)arg0s[k], x, y);
        set_add(xa ? more : less, name);
        free(name);
      }
  assert_true(checked > 40000);
  assert_true(old_denied > 1000);   /* 20.10's filter really denies */
  bool ok = compare_sets("BPF, allowed beyond 20.10", caps, false, more, resolvable);
  ok &= compare_sets("BPF, denied beyond 20.10", caps, true, less, resolvable);
  free(ours.insns);
  free(old.insns);
  free(more);
  free(less);
  return ok;
}

/* ---- names: the built-in table against the JSON's rules ---- */

static bool json_has(json_object *arr, const char *s) {
  for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s))
      return true;
  return false;
}

static uint64_t json_caps(json_object *arr) {
  uint64_t m = 0;
  for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
    int cap = -1;
    const char *c = json_object_get_string(json_object_array_get_idx(arr, i));
    /* only the capabilities the 20.10 profile names */
    static const struct { const char *name; int cap; } known[] = {
      {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH}, {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
      {"CAP_SYS_BOOT", CAP_SYS_BOOT}, {"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
      {"CAP_SYS_MODULE", CAP_SYS_MODULE}, {"CAP_SYS_PACCT", CAP_SYS_PACCT},
      {"CAP_SYS_PTRACE", CAP_SYS_PTRACE}, {"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
      {"CAP_SYS_TIME", CAP_SYS_TIME}, {"CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
      {"CAP_SYS_NICE", CAP_SYS_NICE}, {"CAP_SYSLOG", CAP_SYSLOG}, {"CAP_BPF", CAP_BPF},
      {"CAP_PERFMON", CAP_PERFMON},
    };
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
      if (!strcmp(c, known[k].name))
        cap = known[k].cap;
    if (cap < 0)
      fail_msg("%s: capability %s unknown to this test", DOCKER_2010, c);
    m |= CAP(cap);
  }
  return m;
}

/* Names 20.10 allows (some arguments at least) on amd64 for caps. */
static void docker2010_names(uint64_t caps, struct set *out) {
  json_object *root = json_object_from_file(DOCKER_2010), *sys;

  assert_non_null(root);
  assert_true(json_object_object_get_ex(root, "syscalls", &sys));
  for (size_t i = 0; i < json_object_array_length(sys); i++) {
    json_object *r = json_object_array_get_idx(sys, i), *v, *inc = NULL, *exc = NULL;
    json_object *ia = NULL, *ea = NULL, *ic = NULL, *ec = NULL, *names;
    uint64_t need, forbid;

    assert_true(json_object_object_get_ex(r, "action", &v));
    if (strcmp(json_object_get_string(v), "SCMP_ACT_ALLOW"))
      continue;
    json_object_object_get_ex(r, "includes", &inc);
    json_object_object_get_ex(r, "excludes", &exc);
    if (inc) {
      json_object_object_get_ex(inc, "arches", &ia);
      json_object_object_get_ex(inc, "caps", &ic);
    }
    if (exc) {
      json_object_object_get_ex(exc, "arches", &ea);
      json_object_object_get_ex(exc, "caps", &ec);
    }
    /* Docker matches arches against GOARCH (amd64 here) */
    if ((ia && json_object_array_length(ia) && !json_has(ia, "amd64")) || json_has(ea, "amd64"))
      continue;
    need = json_caps(ic);
    forbid = json_caps(ec);
    if ((caps & need) != need || (caps & forbid))
      continue;
    assert_true(json_object_object_get_ex(r, "names", &names));
    for (size_t k = 0; k < json_object_array_length(names); k++)
      set_add(out, json_object_get_string(json_object_array_get_idx(names, k)));
  }
  json_object_put(root);
}

/* Names the built-in table allows (some arguments at least) for caps. */
static void builtin_names(uint64_t caps, struct set *out) {
  const char *const *names;
  uint32_t action;
  uint64_t all, none;

  for (size_t i = 0; rt_seccomp_default_rule(i, &names, &action, &all, &none); i++) {
    if (action != SCMP_ACT_ALLOW || (caps & all) != all || (caps & none))
      continue;
    for (; *names; names++)
      set_add(out, *names);
  }
}

static bool compare_names(uint64_t caps) {
  struct set *ours = calloc(1, sizeof(*ours)), *old = calloc(1, sizeof(*old));
  struct set *more = calloc(1, sizeof(*more)), *less = calloc(1, sizeof(*less));

  assert_true(ours && old && more && less);
  builtin_names(caps, ours);
  docker2010_names(caps, old);
  assert_true(ours->n > 300);
  assert_true(old->n > 300);
  for (size_t i = 0; i < ours->n; i++)
    if (!set_has(old, ours->names[i]))
      set_add(more, ours->names[i]);
  for (size_t i = 0; i < old->n; i++)
    if (!set_has(ours, old->names[i]))
      set_add(less, old->names[i]);
  bool ok = compare_sets("names, allowed beyond 20.10", caps, false, more, NULL);
  /* "narrowed" rows still allow the name: not a name-level difference */
  for (size_t k = 0; k < nrows; k++)
    if (rows[k].change == NARROWED)
      set_add(less, rows[k].name);
  ok &= compare_sets("names, denied beyond 20.10", caps, true, less, NULL);
  free(ours);
  free(old);
  free(more);
  free(less);
  return ok;
}

static uint64_t cap_sets[4];

static void test_no_capabilities(void **state) {
  assert_true(compare_bpf(cap_sets[0]));
  assert_true(compare_names(cap_sets[0]));
}

static void test_docker_default_capabilities(void **state) {
  assert_true(compare_bpf(cap_sets[1]));
  assert_true(compare_names(cap_sets[1]));
}

static void test_docker_default_capabilities_and_sys_admin(void **state) {
  assert_true(compare_bpf(cap_sets[2]));
  assert_true(compare_names(cap_sets[2]));
}

static void test_sys_admin_alone(void **state) {
  assert_true(compare_bpf(cap_sets[3]));
  assert_true(compare_names(cap_sets[3]));
}

static struct row *find_row(const char *name) {
  for (size_t k = 0; k < nrows; k++)
    if (!strcmp(rows[k].name, name))
      return &rows[k];
  fail_msg("%s: no line for %s", CHANGES_FILE, name);
  return NULL;
}

/* Each line is a difference for at least one of the three sets, with a release number. */
static void test_every_line_is_a_difference(void **state) {
  for (size_t k = 0; k < nrows; k++) {
    bool used = false;
    for (int c = 0; c < 4; c++)
      used |= expected(&rows[k], cap_sets[c], rows[k].change != ALLOWED);
    if (!used)
      fail_msg("%s: %s is not a difference for none, Docker's default or +SYS_ADMIN",
               CHANGES_FILE, rows[k].name);
    if (!rows[k].release[0] ||
        strspn(rows[k].release, "0123456789.") != strlen(rows[k].release))
      fail_msg("%s: %s: Docker release \"%s\"", CHANGES_FILE, rows[k].name, rows[k].release);
  }
}

/* The comparisons can fail: a missing line, a line too many or a wrong condition shows. */
static void test_a_changed_list_fails(void **state) {
  struct row saved, *r;
  uint64_t caps = cap_sets[1];

  quiet = true;
  /* a syscall libseccomp knows (pkey_alloc) and one it may not (cachestat): drop the line */
  r = find_row("pkey_alloc");
  saved = *r;
  snprintf(r->name, sizeof(r->name), "getpid");   /* now pkey_alloc is unlisted, and
                                                     getpid is listed but no difference */
  assert_false(compare_bpf(caps));
  assert_false(compare_names(caps));
  *r = saved;
  r = find_row("cachestat");
  saved = *r;
  r->change = DENIED;
  assert_false(compare_names(caps));
  *r = saved;
  /* io_uring_setup said allowed by the built-in */
  r = find_row("io_uring_setup");
  saved = *r;
  r->builtin = 0;
  assert_false(compare_bpf(caps));
  assert_false(compare_names(caps));
  *r = saved;
  /* name_to_handle_at: claiming 20.10 allowed it without CAP_SYS_ADMIN */
  r = find_row("name_to_handle_at");
  saved = *r;
  r->old = 0;
  assert_false(compare_bpf(caps));
  *r = saved;
  quiet = false;
  assert_true(compare_bpf(caps));
  assert_true(compare_names(caps));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_no_capabilities),
    cmocka_unit_test(test_docker_default_capabilities),
    cmocka_unit_test(test_docker_default_capabilities_and_sys_admin),
    cmocka_unit_test(test_sys_admin_alone),
    cmocka_unit_test(test_every_line_is_a_difference),
    cmocka_unit_test(test_a_changed_list_fails),
  };
  cap_sets[0] = 0;
  cap_sets[1] = rt_caps_docker_default();
  cap_sets[2] = rt_caps_docker_default() | CAP(CAP_SYS_ADMIN);
  cap_sets[3] = CAP(CAP_SYS_ADMIN);
  return cmocka_run_group_tests(tests, load_rows, NULL);
}
