/*
 * Docker JSON seccomp profiles (moby/profiles format) read with json-c and turned into a
 * libseccomp filter with the semantics of Docker's setupSeccomp() and runc's InitSeccomp().
 * See runtime/seccomp_profile.h for the rules followed.
 *
 * Go's encoding/json is what Docker uses, so this reader mirrors it where it matters:
 * object keys match struct fields case-insensitively, unknown keys are ignored, null is
 * the same as an absent field, and a value of the wrong JSON type is an error.
 */
#include "runtime/seccomp_profile.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "base/macro.h"

#define MAX_ARGS 6
#define RT_SCMP_MAX_ERRNO 4094

/* ---- rule adding (runc's matchCall) ---- */

int rt_scmp_add(scmp_filter_ctx ctx, uint32_t def_action, const char *name, uint32_t action,
                const struct rt_scmp_cond *conds, size_t n) {
  struct scmp_arg_cmp cmp[MAX_ARGS];
  unsigned count[MAX_ARGS] = {0};
  bool multiple = false;
  int nr, r;

  if (action == def_action)
    return 0;                 /* redundant rule: runc skips it */
  nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR)
    return 0;                 /* unknown to libseccomp: runc ignores it */
  if (n == 0)
    return seccomp_rule_add(ctx, action, nr, 0);
  if (n > MAX_ARGS)
    multiple = true;          /* more than six conditions: some index repeats */
  for (size_t i = 0; i < n; i++) {
    if (conds[i].index >= MAX_ARGS)
      return -EINVAL;
    if (++count[conds[i].index] > 1)
      multiple = true;
  }
  for (size_t i = 0; i < n && i < MAX_ARGS; i++)
    cmp[i] = (struct scmp_arg_cmp){conds[i].index, conds[i].op, conds[i].value,
                                   conds[i].value_two};
  if (!multiple)
    return seccomp_rule_add_array(ctx, action, nr, (unsigned)n, cmp);
  for (size_t i = 0; i < n; i++) {
    struct scmp_arg_cmp one = {conds[i].index, conds[i].op, conds[i].value,
                               conds[i].value_two};
    if ((r = seccomp_rule_add_array(ctx, action, nr, 1, &one)) < 0)
      return r;
  }
  return 0;
}

int rt_scmp_export(scmp_filter_ctx ctx, void **ret, size_t *ret_len) {
  _cleanup_close_ int fd = memfd_create("secretd-seccomp", MFD_CLOEXEC);
  _cleanup_free_ void *buf = NULL;
  struct stat st;
  ssize_t n;
  int r;

  if (fd < 0)
    return -errno;
  if ((r = seccomp_export_bpf(ctx, fd)) < 0)
    return r;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
    return -EINVAL;
  if ((size_t)st.st_size > BPF_MAXINSNS * sizeof(struct sock_filter))
    return -E2BIG;
  buf = malloc((size_t)st.st_size);
  if (!buf)
    return -ENOMEM;
  n = pread(fd, buf, (size_t)st.st_size, 0);
  if (n < 0)
    return -errno;
  if (n != st.st_size)
    return -EIO;
  *ret_len = (size_t)st.st_size / sizeof(struct sock_filter);
  *ret = TAKE_PTR(buf);
  return 0;
}

void rt_scmp_optimize(scmp_filter_ctx ctx) {
  /* Best effort: without it the filter is the same, only slower to load and to run. */
  (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
}

/* ---- host facts ---- */

struct arch_map {
  uint32_t arch;
  const char *name;     /* Docker's spelling */
  const char *goarch;
  uint32_t sub[2];
};

/* Docker's archMap and nativeToSeccomp, for the arches libseccomp 2.5 knows. */
static const struct arch_map arch_maps[] = {
  {SCMP_ARCH_X86_64, "SCMP_ARCH_X86_64", "amd64", {SCMP_ARCH_X86, SCMP_ARCH_X32}},
  {SCMP_ARCH_X86, "SCMP_ARCH_X86", "386", {0, 0}},
  {SCMP_ARCH_AARCH64, "SCMP_ARCH_AARCH64", "arm64", {SCMP_ARCH_ARM, 0}},
  {SCMP_ARCH_ARM, "SCMP_ARCH_ARM", "arm", {0, 0}},
  {SCMP_ARCH_MIPS64, "SCMP_ARCH_MIPS64", "mips64", {SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64N32}},
  {SCMP_ARCH_MIPSEL64, "SCMP_ARCH_MIPSEL64", "mips64le", {SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64N32}},
  {SCMP_ARCH_PPC64LE, "SCMP_ARCH_PPC64LE", "ppc64le", {0, 0}},
  {SCMP_ARCH_S390X, "SCMP_ARCH_S390X", "s390x", {SCMP_ARCH_S390, 0}},
  {SCMP_ARCH_RISCV64, "SCMP_ARCH_RISCV64", "riscv64", {0, 0}},
};

static const struct arch_map *native_map(void) {
  uint32_t native = seccomp_arch_native();

  for (size_t i = 0; i < ARRAY_SIZE(arch_maps); i++)
    if (arch_maps[i].arch == native)
      return &arch_maps[i];
  return NULL;
}

static int arch_add(scmp_filter_ctx ctx, uint32_t arch) {
  int r = seccomp_arch_add(ctx, arch);
  return r == -EEXIST ? 0 : r;
}

int rt_scmp_add_native_arches(scmp_filter_ctx ctx) {
  const struct arch_map *m = native_map();
  int r;

  if (!m)
    return 0;
  for (size_t i = 0; i < ARRAY_SIZE(m->sub); i++)
    if (m->sub[i] && (r = arch_add(ctx, m->sub[i])) < 0)
      return r;
  return 0;
}

const char *rt_scmp_goarch(void) {
  const struct arch_map *m = native_map();
  return m ? m->goarch : "unknown";
}

unsigned rt_scmp_kernel_version(void) {
  struct utsname u;
  unsigned maj = 0, min = 0;

  if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &maj, &min) != 2)
    return 0;
  return maj * 256u + (min > 255 ? 255 : min);
}

static const char *const cap_names[] = {
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
  "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin",
  "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace",
  "sys_pacct", "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
  "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
  "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read",
  "perfmon", "bpf", "checkpoint_restore",
};

int rt_scmp_cap_from_name(const char *name) {
  if (strncasecmp(name, "CAP_", 4) != 0)
    return -1;
  for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
    if (strcasecmp(name + 4, cap_names[i]) == 0)
      return (int)i;
  return -1;
}

/* ---- JSON helpers (Go encoding/json semantics) ---- */

struct parser {
  char *err;              /* RT_SCMP_ERRLEN bytes */
  uint64_t caps;
  const char *goarch;
  unsigned kernel;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *p, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(p->err, RT_SCMP_ERRLEN, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

/* Field lookup: exact key first, then case-insensitive (as Go does). null = absent. */
static struct json_object *field(struct json_object *obj, const char *key) {
  struct json_object *v = NULL;

  if (json_object_object_get_ex(obj, key, &v))
    return v;
  json_object_object_foreach(obj, k, val) {
    if (strcasecmp(k, key) == 0)
      return val;
  }
  return NULL;
}

static const char *type_name(struct json_object *v) {
  return json_type_to_name(json_object_get_type(v));
}

/* *ret is set on every path (NULL on error), so no caller reads an unset pointer. */
static int get_string(struct parser *p, struct json_object *v, const char *what,
                      const char **ret) {
  *ret = NULL;
  if (!json_object_is_type(v, json_type_string))
    return fail(p, "%s: expected a string, got %s", what, type_name(v));
  *ret = json_object_get_string(v);
  return 0;
}

/* An unsigned integer that fits in max; JSON doubles and negatives are refused. */
static int get_uint(struct parser *p, struct json_object *v, const char *what, uint64_t max,
                    uint64_t *ret) {
  uint64_t u;

  *ret = 0; /* set on every path, as get_string's */
  if (!json_object_is_type(v, json_type_int))
    return fail(p, "%s: expected an unsigned integer, got %s", what, type_name(v));
  if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) == 0)
    return fail(p, "%s: expected an unsigned integer, got a negative number", what);
  errno = 0;
  u = json_object_get_uint64(v);
  if (errno == ERANGE || u > max)
    return fail(p, "%s: number out of range", what);
  *ret = u;
  return 0;
}

static int get_array(struct parser *p, struct json_object *v, const char *what) {
  if (!json_object_is_type(v, json_type_array))
    return fail(p, "%s: expected an array, got %s", what, type_name(v));
  return 0;
}

static int get_object(struct parser *p, struct json_object *v, const char *what) {
  if (!json_object_is_type(v, json_type_object))
    return fail(p, "%s: expected an object, got %s", what, type_name(v));
  return 0;
}

/* Is the string s an element of the array of strings arr (a JSON array)? */
static int string_in(struct parser *p, struct json_object *arr, const char *what,
                     const char *s, bool *ret) {
  const char *e;
  int r;

  *ret = false;
  if ((r = get_array(p, arr, what)) < 0)
    return r;
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    if ((r = get_string(p, json_object_array_get_idx(arr, i), what, &e)) < 0)
      return r;
    if (strcmp(e, s) == 0)
      *ret = true;
  }
  return 0;
}

/* ---- actions, operators, arches ---- */

static int parse_action(struct parser *p, const char *s, struct json_object *errno_ret,
                        const char *what, uint32_t *ret) {
  uint64_t e = EPERM;
  int r;

  if (errno_ret && (r = get_uint(p, errno_ret, what, UINT64_MAX, &e)) < 0)
    return r;
  /* Go's runc truncates errnoRet to 16 bits; the kernel then caps the errno at 4095, but
   * libseccomp refuses values above 4094 (so runc would fail at container start, for
   * instance on Docker's fixture example.json with 12345). Clamp to libseccomp's limit. */
  e &= 0xffff;
  if (e > RT_SCMP_MAX_ERRNO)
    e = RT_SCMP_MAX_ERRNO;
  if (strcmp(s, "SCMP_ACT_ALLOW") == 0)
    *ret = SCMP_ACT_ALLOW;
  else if (strcmp(s, "SCMP_ACT_ERRNO") == 0)
    *ret = SCMP_ACT_ERRNO((uint32_t)e);
  else if (strcmp(s, "SCMP_ACT_TRACE") == 0)
    *ret = SCMP_ACT_TRACE((uint32_t)e);
  else if (strcmp(s, "SCMP_ACT_KILL") == 0 || strcmp(s, "SCMP_ACT_KILL_THREAD") == 0)
    *ret = SCMP_ACT_KILL_THREAD;
  else if (strcmp(s, "SCMP_ACT_KILL_PROCESS") == 0)
    *ret = SCMP_ACT_KILL_PROCESS;
  else if (strcmp(s, "SCMP_ACT_TRAP") == 0)
    *ret = SCMP_ACT_TRAP;
  else if (strcmp(s, "SCMP_ACT_LOG") == 0)
    *ret = SCMP_ACT_LOG;
  else if (strcmp(s, "SCMP_ACT_NOTIFY") == 0) {
    snprintf(p->err, RT_SCMP_ERRLEN,
             "%s: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which "
             "secret-launch does not support", what);
    return -EOPNOTSUPP;
  } else
    return fail(p, "%s: unknown action \"%s\"", what, s);
  return 0;
}

static int parse_op(struct parser *p, const char *s, const char *what,
                    enum scmp_compare *ret) {
  static const struct { const char *name; enum scmp_compare op; } ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };

  for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
    if (strcmp(s, ops[i].name) == 0) {
      *ret = ops[i].op;
      return 0;
    }
  return fail(p, "%s: unknown operator \"%s\"", what, s);
}

static int parse_arch(struct parser *p, struct json_object *v, const char *what,
                      uint32_t *ret) {
  char low[32];
  const char *s;
  uint32_t a = 0;
  int r;

  if ((r = get_string(p, v, what, &s)) < 0)
    return r;
  if (strncmp(s, "SCMP_ARCH_", 10) != 0 || strlen(s + 10) >= sizeof(low))
    return fail(p, "%s: unknown architecture \"%s\"", what, s);
  for (size_t i = 0; i <= strlen(s + 10); i++)
    low[i] = (char)(s[10 + i] >= 'A' && s[10 + i] <= 'Z' ? s[10 + i] + 32 : s[10 + i]);
  a = seccomp_arch_resolve_name(low);
  if (a == 0)
    return fail(p, "%s: unknown architecture \"%s\"", what, s);
  *ret = a;
  return 0;
}

static int add_arch_value(struct parser *p, scmp_filter_ctx ctx, struct json_object *v,
                          const char *what) {
  uint32_t a = 0;
  int r;

  if ((r = parse_arch(p, v, what, &a)) < 0)
    return r;
  if ((r = arch_add(ctx, a)) < 0)
    return fail(p, "%s: libseccomp refused architecture: %s", what, strerror(-r));
  return 0;
}

static int add_arches(struct parser *p, scmp_filter_ctx ctx, struct json_object *root) {
  struct json_object *archs = field(root, "architectures"), *map = field(root, "archMap");
  uint32_t native = seccomp_arch_native();
  size_t n_archs = 0, n_map = 0;
  int r;

  if (archs && (r = get_array(p, archs, "architectures")) < 0)
    return r;
  if (map && (r = get_array(p, map, "archMap")) < 0)
    return r;
  n_archs = archs ? json_object_array_length(archs) : 0;
  n_map = map ? json_object_array_length(map) : 0;
  if (n_archs && n_map)
    return fail(p, "both 'architectures' and 'archMap' are specified in the seccomp "
                   "profile, use either 'architectures' or 'archMap'");
  for (size_t i = 0; i < n_archs; i++)
    if ((r = add_arch_value(p, ctx, json_object_array_get_idx(archs, i), "architectures")) < 0)
      return r;
  for (size_t i = 0; i < n_map; i++) {
    struct json_object *m = json_object_array_get_idx(map, i), *a, *subs;
    const struct arch_map *nm = native_map();
    const char *name;

    if ((r = get_object(p, m, "archMap[]")) < 0)
      return r;
    a = field(m, "architecture");
    if (!a)
      continue;                /* Go: empty Arch never equals the native one */
    /* Docker compares the string with the native arch's name and converts only the
     * entry that matches; others (arches libseccomp may not know) are never parsed. */
    if ((r = get_string(p, a, "archMap[].architecture", &name)) < 0)
      return r;
    subs = field(m, "subArchitectures");
    if (subs && (r = get_array(p, subs, "archMap[].subArchitectures")) < 0)
      return r;
    if (!nm || strcmp(name, nm->name) != 0)
      continue;
    if ((r = arch_add(ctx, native)) < 0)
      return fail(p, "archMap: libseccomp refused architecture: %s", strerror(-r));
    for (size_t j = 0; subs && j < json_object_array_length(subs); j++)
      if ((r = add_arch_value(p, ctx, json_object_array_get_idx(subs, j),
                              "archMap[].subArchitectures")) < 0)
        return r;
  }
  return 0;
}

/* ---- includes / excludes ---- */

/* "<kernel>.<major>" as moby's KernelVersion.UnmarshalJSON reads it; 0 = "". */
static int parse_kernel(struct parser *p, struct json_object *v, const char *what,
                        unsigned *ret) {
  const char *s, *dot;
  char *end;
  unsigned long maj, min;
  int r;

  if ((r = get_string(p, v, what, &s)) < 0)
    return r;
  *ret = 0;
  if (!*s)
    return 0;
  dot = strchr(s, '.');
  if (!dot || strchr(dot + 1, '.') || dot == s || !dot[1] || *s == '+' || dot[1] == '+' ||
      *s == '-' || dot[1] == '-')
    goto bad;
  errno = 0;
  maj = strtoul(s, &end, 10);
  if (errno || end != dot || maj > 255)
    goto bad;
  min = strtoul(dot + 1, &end, 10);
  if (errno || *end || min > 255)
    goto bad;
  if (maj == 0 && min == 0)
    return fail(p, "%s: invalid kernel version \"%s\": version cannot be 0.0", what, s);
  *ret = (unsigned)(maj * 256 + min);
  return 0;
bad:
  return fail(p, "%s: invalid kernel version \"%s\", expected \"<kernel>.<major>\"", what, s);
}

/*
 * Does the includes (want = true) or excludes (want = false) filter f let the rule in?
 * includes: every condition must hold; excludes: any condition that holds drops the rule.
 */
static int filter_allows(struct parser *p, struct json_object *f, bool includes,
                         const char *what, bool *ret) {
  struct json_object *arches, *caps, *mk;
  char w[64];
  bool in;
  int r;

  *ret = true;
  if (!f)
    return 0;
  if ((r = get_object(p, f, what)) < 0)
    return r;
  arches = field(f, "arches");
  caps = field(f, "caps");
  mk = field(f, "minKernel");
  snprintf(w, sizeof(w), "%s.arches", what);
  if (arches && (r = string_in(p, arches, w, p->goarch, &in)) < 0)
    return r;
  if (arches && json_object_array_length(arches) > 0 && in != includes)
    *ret = false;
  snprintf(w, sizeof(w), "%s.caps", what);
  if (caps && (r = get_array(p, caps, w)) < 0)
    return r;
  for (size_t i = 0; caps && i < json_object_array_length(caps); i++) {
    const char *name;
    int cap;
    if ((r = get_string(p, json_object_array_get_idx(caps, i), w, &name)) < 0)
      return r;
    cap = rt_scmp_cap_from_name(name);
    in = cap >= 0 && (p->caps & (UINT64_C(1) << cap));
    if (in != includes)
      *ret = false;
  }
  snprintf(w, sizeof(w), "%s.minKernel", what);
  if (mk) {
    unsigned kv;
    if ((r = parse_kernel(p, mk, w, &kv)) < 0)
      return r;
    if (kv && (p->kernel >= kv) != includes)
      *ret = false;
  }
  return 0;
}

/* ---- syscalls ---- */

static int parse_args(struct parser *p, struct json_object *args, const char *what,
                      struct rt_scmp_cond **ret, size_t *ret_n) {
  _cleanup_free_ struct rt_scmp_cond *c = NULL;
  size_t n;
  int r;

  *ret = NULL;
  *ret_n = 0;
  if (!args)
    return 0;
  if ((r = get_array(p, args, what)) < 0)
    return r;
  n = json_object_array_length(args);
  if (n == 0)
    return 0;
  c = calloc(n, sizeof(*c));
  if (!c)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    struct json_object *a = json_object_array_get_idx(args, i), *v;
    const char *op = "";
    uint64_t u = 0;

    if ((r = get_object(p, a, what)) < 0)
      return r;
    if ((v = field(a, "index")) && (r = get_uint(p, v, what, UINT32_MAX, &u)) < 0)
      return r;
    if (u >= MAX_ARGS)
      return fail(p, "%s: argument index %" PRIu64 " is out of range (0..5)", what, u);
    c[i].index = (unsigned)u;
    if ((v = field(a, "value")) && (r = get_uint(p, v, what, UINT64_MAX, &c[i].value)) < 0)
      return r;
    if ((v = field(a, "valueTwo")) &&
        (r = get_uint(p, v, what, UINT64_MAX, &c[i].value_two)) < 0)
      return r;
    if ((v = field(a, "op")) && (r = get_string(p, v, what, &op)) < 0)
      return r;
    if ((r = parse_op(p, op, what, &c[i].op)) < 0)
      return r;
  }
  *ret = TAKE_PTR(c);
  *ret_n = n;
  return 0;
}

static int add_syscall(struct parser *p, scmp_filter_ctx ctx, uint32_t def,
                       struct json_object *sc, size_t idx) {
  _cleanup_free_ struct rt_scmp_cond *conds = NULL;
  struct json_object *names, *name, *v;
  const char *action = "", *one = NULL;
  char what[48];
  size_t nconds;
  uint32_t act;
  bool ok, in;
  int r = 0;

  snprintf(what, sizeof(what), "syscalls[%zu]", idx);
  if (!sc)
    return fail(p, "%s: encountered null syscall", what);
  if ((r = get_object(p, sc, what)) < 0)
    return r;
  names = field(sc, "names");
  name = field(sc, "name");
  if (names && (r = get_array(p, names, what)) < 0)
    return r;
  if (name && (r = get_string(p, name, what, &one)) < 0)
    return r;
  if (one && !*one)
    one = NULL;                /* Go: "" is the zero value, as if absent */
  if (one && names && json_object_array_length(names) > 0)
    return fail(p, "%s: use either 'name' or 'names'", what);
  /* Every field is decoded (and so type-checked) before includes/excludes are applied,
   * as Go's json.Unmarshal does for the whole document. */
  if ((v = field(sc, "action")) && (r = get_string(p, v, what, &action)) < 0)
    return r;
  if ((r = parse_action(p, action, field(sc, "errnoRet"), what, &act)) < 0)
    return r;
  if ((r = parse_args(p, field(sc, "args"), what, &conds, &nconds)) < 0)
    return r;
  for (size_t i = 0; names && i < json_object_array_length(names); i++) {
    const char *n;
    if ((r = get_string(p, json_object_array_get_idx(names, i), what, &n)) < 0)
      return r;
    if (!*n)
      return fail(p, "%s: empty string is not a valid syscall", what);
  }
  if ((r = filter_allows(p, field(sc, "excludes"), false, "excludes", &ok)) < 0)
    return r;
  if ((r = filter_allows(p, field(sc, "includes"), true, "includes", &in)) < 0)
    return r;
  if (!ok || !in)
    return 0;
  if (one)
    r = rt_scmp_add(ctx, def, one, act, conds, nconds);
  for (size_t i = 0; !one && names && i < json_object_array_length(names) && r >= 0; i++)
    r = rt_scmp_add(ctx, def, json_object_get_string(json_object_array_get_idx(names, i)),
                    act, conds, nconds);
  if (r < 0)
    return r == -ENOMEM ? r : fail(p, "%s: libseccomp refused the rule: %s", what, strerror(-r));
  return 0;
}

static int parse_flags(struct parser *p, struct json_object *flags, unsigned *ret) {
  const char *s;
  int r;

  *ret = 0;
  if (!flags)
    return 0;
  if ((r = get_array(p, flags, "flags")) < 0)
    return r;
  for (size_t i = 0; i < json_object_array_length(flags); i++) {
    if ((r = get_string(p, json_object_array_get_idx(flags, i), "flags", &s)) < 0)
      return r;
    if (strcmp(s, "SECCOMP_FILTER_FLAG_LOG") == 0)
      *ret |= SECCOMP_FILTER_FLAG_LOG;
    else if (strcmp(s, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
      *ret |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else {
      snprintf(p->err, RT_SCMP_ERRLEN, "flags: \"%s\" is not supported", s);
      return -EOPNOTSUPP;
    }
  }
  return 0;
}

static void releasep(scmp_filter_ctx *ctx) {
  if (*ctx)
    seccomp_release(*ctx);
}

static void json_putp(struct json_object **o) {
  if (*o)
    json_object_put(*o);
}

static int parse_json(struct parser *p, const char *json, size_t len,
                      struct json_object **ret) {
  struct json_tokener *tok;
  struct json_object *root;
  enum json_tokener_error jerr;
  size_t off;

  if (len > INT32_MAX)
    return fail(p, "profile too large");
  tok = json_tokener_new();
  if (!tok)
    return -ENOMEM;
  root = json_tokener_parse_ex(tok, json, (int)len);
  jerr = json_tokener_get_error(tok);
  off = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (jerr == json_tokener_continue) {
    json_object_put(root);
    return fail(p, "malformed JSON: unexpected end of input");
  }
  if (jerr != json_tokener_success) {
    json_object_put(root);
    return fail(p, "malformed JSON at byte %zu: %s", off, json_tokener_error_desc(jerr));
  }
  for (; off < len; off++)
    if (!strchr(" \t\r\n", json[off])) {
      json_object_put(root);
      return fail(p, "malformed JSON: trailing data at byte %zu", off);
    }
  if (!json_object_is_type(root, json_type_object)) {
    const char *t = root ? type_name(root) : "null";
    json_object_put(root);
    return fail(p, "a seccomp profile must be a JSON object, got %s", t);
  }
  *ret = root;
  return 0;
}

int rt_seccomp_profile_build(const char *json, size_t len, uint64_t caps,
                             scmp_filter_ctx *ret_ctx, unsigned *ret_flags,
                             char err[RT_SCMP_ERRLEN]) {
  struct parser p = {.err = err, .caps = caps, .goarch = rt_scmp_goarch(),
                     .kernel = rt_scmp_kernel_version()};
  _cleanup_(json_putp) struct json_object *root = NULL;
  _cleanup_(releasep) scmp_filter_ctx ctx = NULL;
  struct json_object *v, *syscalls;
  const char *defact = "";
  unsigned flags;
  uint32_t def;
  int r;

  err[0] = 0;
  if ((r = parse_json(&p, json, len, &root)) < 0)
    return r;
  syscalls = field(root, "syscalls");
  if (syscalls && (r = get_array(&p, syscalls, "syscalls")) < 0)
    return r;
  if ((v = field(root, "defaultAction")) && (r = get_string(&p, v, "defaultAction", &defact)) < 0)
    return r;
  if ((r = parse_flags(&p, field(root, "flags"), &flags)) < 0)
    return r;
  if ((v = field(root, "listenerPath"))) {
    const char *lp;
    if ((r = get_string(&p, v, "listenerPath", &lp)) < 0)
      return r;
    if (*lp) {
      snprintf(err, RT_SCMP_ERRLEN, "listenerPath: seccomp agents are not supported");
      return -EOPNOTSUPP;
    }
  }
  if (!*defact && (!syscalls || json_object_array_length(syscalls) == 0)) {
    *ret_ctx = NULL;           /* Docker: nothing specified means no seccomp */
    *ret_flags = 0;
    return 0;
  }
  if ((r = parse_action(&p, defact, field(root, "defaultErrnoRet"), "defaultAction", &def)) < 0)
    return r;
  ctx = seccomp_init(def);
  if (!ctx)
    return -ENOMEM;
  if ((r = add_arches(&p, ctx, root)) < 0)
    return r;
  rt_scmp_optimize(ctx);
  for (size_t i = 0; syscalls && i < json_object_array_length(syscalls); i++)
    if ((r = add_syscall(&p, ctx, def, json_object_array_get_idx(syscalls, i), i)) < 0)
      return r;
  *ret_ctx = TAKE_PTR(ctx);
  *ret_flags = flags;
  return 0;
}
