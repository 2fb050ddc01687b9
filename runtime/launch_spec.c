/* The shared launch spec: option rules and messages. See runtime/launch_spec.h. */
#include "runtime/launch_spec.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/macro.h"
#include "base/parse.h"
#include "base/str.h"
#include "runtime/caps.h"
#include "runtime/runtime.h"
#include "runtime/seccomp_profile.h"
#include "runtime/userns.h"

static const struct {
  const char *name;
  bool has_arg;
} options[LAUNCH_OPT__COUNT] = {
    [LAUNCH_OPT_ROOTFS] = {"rootfs", true},
    [LAUNCH_OPT_MOUNT] = {"mount", true},
    [LAUNCH_OPT_MEMORY] = {"memory", true},
    [LAUNCH_OPT_CPUS] = {"cpus", true},
    [LAUNCH_OPT_PIDS_LIMIT] = {"pids-limit", true},
    [LAUNCH_OPT_CAP_ADD] = {"cap-add", true},
    [LAUNCH_OPT_CAP_DROP] = {"cap-drop", true},
    [LAUNCH_OPT_SECCOMP_PROFILE] = {"seccomp-profile", true},
    [LAUNCH_OPT_USER] = {"user", true},
    [LAUNCH_OPT_READ_ONLY] = {"read-only", false},
    [LAUNCH_OPT_ENV] = {"env", true},
    [LAUNCH_OPT_HOSTNAME] = {"hostname", true},
    [LAUNCH_OPT_WORKDIR] = {"workdir", true},
    [LAUNCH_OPT_INIT] = {"init", false},
    [LAUNCH_OPT_STOP_TIMEOUT] = {"stop-timeout", true},
    [LAUNCH_OPT_RESTART] = {"restart", true},
    [LAUNCH_OPT_USERNS] = {"userns", false},
    [LAUNCH_OPT_UIDMAP] = {"uidmap", true},
    [LAUNCH_OPT_GIDMAP] = {"gidmap", true},
};

static const char *const restart_names[] = {
    [LAUNCH_RESTART_NO] = "no",
    [LAUNCH_RESTART_ON_FAILURE] = "on-failure",
    [LAUNCH_RESTART_ALWAYS] = "always",
};

static int fail(char err[LAUNCH_SPEC_ERRLEN], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(char err[LAUNCH_SPEC_ERRLEN], const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, LAUNCH_SPEC_ERRLEN, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

void launch_spec_init(struct launch_spec *s) {
  *s = (struct launch_spec){0};
  s->stop_timeout_s = LAUNCH_SPEC_STOP_TIMEOUT_DEFAULT;
  s->restart = LAUNCH_RESTART_NO;
}

void launch_spec_clear(struct launch_spec *s) {
  if (!s)
    return;
  free(s->rootfs);
  free(s->hostname);
  free(s->workdir);
  for (size_t i = 0; i < s->n_env; i++)
    free(s->env[i]);
  for (size_t i = 0; i < s->n_mounts; i++) {
    free(s->mounts[i].source);
    free(s->mounts[i].target);
  }
  for (size_t i = 0; i < s->n_cap_add; i++)
    free(s->cap_add[i]);
  for (size_t i = 0; i < s->n_cap_drop; i++)
    free(s->cap_drop[i]);
  free(s->seccomp_path);
  free(s->seccomp_json);
  for (size_t i = 0; i < s->argc; i++)
    free(s->argv[i]);
  free(s->argv);
  launch_spec_init(s);
}

int launch_spec_option_lookup(const char *name) {
  for (size_t i = 0; i < ARRAY_SIZE(options); i++)
    if (strcmp(options[i].name, name) == 0)
      return (int)i;
  return -ENOENT;
}

const char *launch_spec_option_name(enum launch_opt opt) {
  return (unsigned)opt < LAUNCH_OPT__COUNT ? options[opt].name : NULL;
}

bool launch_spec_option_has_arg(enum launch_opt opt) {
  return (unsigned)opt < LAUNCH_OPT__COUNT && options[opt].has_arg;
}

const char *launch_restart_name(enum launch_restart r) {
  return (unsigned)r < ARRAY_SIZE(restart_names) ? restart_names[r] : "?";
}

/* ---- the value rules (one each, used by apply and validate) ---- */

int launch_spec_parse_size(const char *s, int64_t *ret) {
  char *end;
  if (!isdigit((unsigned char)*s))
    return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return -EINVAL;
  unsigned shift = 0;
  switch (tolower((unsigned char)*end)) {
  case '\0': break;
  case 'b': shift = 0; end++; break;
  case 'k': shift = 10; end++; break;
  case 'm': shift = 20; end++; break;
  case 'g': shift = 30; end++; break;
  default: return -EINVAL;
  }
  if (*end == 'b' || *end == 'B')
    end++;
  if (*end || v == 0 || v > (unsigned long long)(INT64_MAX >> shift))
    return -EINVAL;
  *ret = (int64_t)(v << shift);
  return 0;
}

#define CPU_WHOLE_MAX 4096
#define CPU_QUOTA_MIN 1000 /* the kernel's minimum quota is 1 ms */

/* "0.5", "2", "1.25" -> quota in microseconds for a 100000 us period. */
static int parse_cpus(const char *s, int64_t *ret_quota) {
  uint64_t whole = 0, frac = 0, scale = LAUNCH_SPEC_CPU_PERIOD_US;
  const char *p = s;
  if (!isdigit((unsigned char)*p) && *p != '.')
    return -EINVAL;
  for (; isdigit((unsigned char)*p); p++) {
    whole = whole * 10 + (uint64_t)(*p - '0');
    if (whole > CPU_WHOLE_MAX)
      return -EINVAL;
  }
  if (*p == '.') {
    p++;
    for (; isdigit((unsigned char)*p); p++) {
      if (scale > 1) {
        scale /= 10;
        frac += (uint64_t)(*p - '0') * scale;
      }
    }
  }
  if (*p)
    return -EINVAL;
  uint64_t q = whole * LAUNCH_SPEC_CPU_PERIOD_US + frac;
  if (q < CPU_QUOTA_MIN)
    return -EINVAL;
  *ret_quota = (int64_t)q;
  return 0;
}

static bool cpu_quota_ok(int64_t q) {
  return q >= CPU_QUOTA_MIN &&
         q < (int64_t)(CPU_WHOLE_MAX + 1) * LAUNCH_SPEC_CPU_PERIOD_US;
}

static int parse_user(const char *s, uint32_t *uid, uint32_t *gid) {
  uint64_t u, g = 0;
  char buf[64];
  if (strlen(s) >= sizeof buf)
    return -EINVAL;
  strcpy(buf, s);
  char *colon = strchr(buf, ':');
  if (colon)
    *colon = '\0';
  if (sd_parse_u64(buf, UINT32_MAX - 1, &u) < 0)
    return -EINVAL;
  if (colon && sd_parse_u64(colon + 1, UINT32_MAX - 1, &g) < 0)
    return -EINVAL;
  *uid = (uint32_t)u;
  *gid = (uint32_t)g; /* as Docker for a numeric user without passwd entry: gid 0 */
  return 0;
}

/* A mount as stored: SRC and DST without ':', DST absolute. */
static bool mount_ok(const char *src, const char *dst) {
  return src && dst && src[0] && !strchr(src, ':') && dst[0] == '/' && !strchr(dst, ':');
}

static bool env_ok(const char *kv) { return kv && strchr(kv, '=') && kv[0] != '='; }

/* A capability name as --cap-add/--cap-drop take it: ALL or one libcap knows. */
static bool cap_name_ok(const char *name) {
  return strcasecmp(name, "ALL") == 0 || rt_caps_from_name(name) >= 0;
}

static int too_many(char err[LAUNCH_SPEC_ERRLEN], const char *opt) {
  return fail(err, "too many %s options (max %d)", opt, LAUNCH_SPEC_MAX_ITEMS);
}

static int dup_into(char **dst, const char *v) {
  char *c = strdup(v);
  if (!c)
    return -ENOMEM;
  free(*dst);
  *dst = c;
  return 0;
}

static int too_long(char err[LAUNCH_SPEC_ERRLEN], enum launch_opt opt) {
  return fail(err, "--%s: value longer than %d bytes", options[opt].name, LAUNCH_SPEC_STR_MAX);
}

int launch_spec_apply(struct launch_spec *s, enum launch_opt opt, const char *v,
                      char err[LAUNCH_SPEC_ERRLEN]) {
  uint64_t n;
  if ((unsigned)opt >= LAUNCH_OPT__COUNT)
    return fail(err, "unknown option");
  if (options[opt].has_arg && !v)
    return fail(err, "--%s needs a value", options[opt].name);
  if (v && strlen(v) > LAUNCH_SPEC_STR_MAX)
    return too_long(err, opt);
  switch (opt) {
  case LAUNCH_OPT_ROOTFS: return dup_into(&s->rootfs, v);
  case LAUNCH_OPT_HOSTNAME: return dup_into(&s->hostname, v);
  case LAUNCH_OPT_WORKDIR:
    if (v[0] != '/')
      return fail(err, "--workdir must be an absolute path");
    return dup_into(&s->workdir, v);
  case LAUNCH_OPT_ENV:
    if (s->n_env == LAUNCH_SPEC_MAX_ITEMS)
      return too_many(err, "--env");
    if (!env_ok(v))
      return fail(err, "--env: expected K=V, got \"%s\"", v);
    if (!(s->env[s->n_env] = strdup(v)))
      return -ENOMEM;
    s->n_env++;
    return 0;
  case LAUNCH_OPT_USER:
    if (parse_user(v, &s->uid, &s->gid) < 0)
      return fail(err, "--user: expected UID[:GID] (numbers), got \"%s\"", v);
    return 0;
  case LAUNCH_OPT_READ_ONLY: s->read_only = true; return 0;
  case LAUNCH_OPT_INIT: s->init = true; return 0;
  case LAUNCH_OPT_CAP_ADD:
  case LAUNCH_OPT_CAP_DROP: {
    bool add = opt == LAUNCH_OPT_CAP_ADD;
    size_t *cnt = add ? &s->n_cap_add : &s->n_cap_drop;
    char **arr = add ? s->cap_add : s->cap_drop;
    if (*cnt == LAUNCH_SPEC_MAX_ITEMS)
      return too_many(err, add ? "--cap-add" : "--cap-drop");
    if (!cap_name_ok(v))
      return fail(err, "--%s: unknown capability \"%s\"", options[opt].name, v);
    if (!(arr[*cnt] = strdup(v)))
      return -ENOMEM;
    (*cnt)++;
    return 0;
  }
  case LAUNCH_OPT_MOUNT: {
    /* SRC:DST[:ro|:rw]; SRC and DST must not contain ':' */
    if (s->n_mounts == LAUNCH_SPEC_MAX_ITEMS)
      return too_many(err, "--mount");
    const char *a = strchr(v, ':');
    if (!a || a == v)
      return fail(err, "--mount: expected SRC:/DST[:ro]");
    const char *dst = a + 1, *b = strchr(dst, ':');
    size_t dst_len = b ? (size_t)(b - dst) : strlen(dst);
    bool ro = false;
    if (b) {
      if (strcmp(b + 1, "ro") == 0)
        ro = true;
      else if (strcmp(b + 1, "rw") != 0)
        return fail(err, "--mount: expected SRC:/DST[:ro]");
    }
    if (dst[0] != '/')
      return fail(err, "--mount: expected SRC:/DST[:ro]");
    struct launch_mount *m = &s->mounts[s->n_mounts];
    m->source = sd_strdup_n(v, (size_t)(a - v));
    m->target = sd_strdup_n(dst, dst_len);
    if (!m->source || !m->target) {
      free(m->source);
      free(m->target);
      *m = (struct launch_mount){0};
      return -ENOMEM;
    }
    m->readonly = ro;
    s->n_mounts++;
    return 0;
  }
  case LAUNCH_OPT_MEMORY:
    if (launch_spec_parse_size(v, &s->memory_bytes) < 0)
      return fail(err, "--memory: expected a size such as 64m or 1g, got \"%s\"", v);
    return 0;
  case LAUNCH_OPT_CPUS:
    if (parse_cpus(v, &s->cpu_quota_us) < 0)
      return fail(err, "--cpus: expected a number such as 0.5 (>= 0.01), got \"%s\"", v);
    return 0;
  case LAUNCH_OPT_PIDS_LIMIT:
    if (sd_parse_u64(v, INT64_MAX, &n) < 0 || n == 0)
      return fail(err, "--pids-limit: expected a positive number, got \"%s\"", v);
    s->pids_max = (int64_t)n;
    return 0;
  case LAUNCH_OPT_SECCOMP_PROFILE:
    /* The path is the caller's to read (launch_spec_set_seccomp for the content). */
    s->seccomp_unconfined = strcmp(v, "unconfined") == 0;
    if (s->seccomp_unconfined) {
      free(s->seccomp_json);
      s->seccomp_json = NULL;
      s->seccomp_len = 0;
    }
    return dup_into(&s->seccomp_path, v);
  case LAUNCH_OPT_STOP_TIMEOUT:
    if (sd_parse_u64(v, LAUNCH_SPEC_STOP_TIMEOUT_MAX, &n) < 0)
      return fail(err, "--stop-timeout: expected seconds (0..86400), got \"%s\"", v);
    s->stop_timeout_s = (unsigned)n;
    return 0;
  case LAUNCH_OPT_RESTART:
    for (size_t i = 0; i < ARRAY_SIZE(restart_names); i++)
      if (strcmp(v, restart_names[i]) == 0) {
        s->restart = (enum launch_restart)i;
        return 0;
      }
    return fail(err, "--restart: expected no, on-failure or always, got \"%s\"", v);
  case LAUNCH_OPT_USERNS: s->userns = true; return 0;
  case LAUNCH_OPT_UIDMAP:
  case LAUNCH_OPT_GIDMAP: {
    bool u = opt == LAUNCH_OPT_UIDMAP;
    size_t *cnt = u ? &s->n_uidmap : &s->n_gidmap;
    struct rt_idmap *m = u ? s->uidmap : s->gidmap;
    if (*cnt == RT_MAX_IDMAPS)
      return fail(err, "at most %d --uidmap/--gidmap ranges", RT_MAX_IDMAPS);
    if (rt_idmap_parse(v, &m[*cnt]) < 0)
      return fail(err, "--%s: expected CONTAINER:HOST:COUNT, got \"%s\"", options[opt].name, v);
    (*cnt)++;
    s->userns = true;
    return 0;
  }
  case LAUNCH_OPT__COUNT: break;
  }
  return fail(err, "unknown option");
}

static const struct rt_idmap default_idmap = {0, RT_DEFAULT_IDMAP_OUTSIDE, RT_DEFAULT_IDMAP_COUNT};

/* The maps in force under --userns: the given ones, or the default range. */
static void effective_maps(const struct launch_spec *s, const struct rt_idmap **u, size_t *nu,
                           const struct rt_idmap **g, size_t *ng) {
  *u = s->n_uidmap ? s->uidmap : &default_idmap;
  *nu = s->n_uidmap ? s->n_uidmap : 1;
  *g = s->n_gidmap ? s->gidmap : &default_idmap;
  *ng = s->n_gidmap ? s->n_gidmap : 1;
}

/* Each range as rt_idmap_parse() would have made it: COUNT >= 1, no wrap. */
static bool idmaps_parsed_ok(const struct rt_idmap *m, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (m[i].count == 0 || (uint64_t)m[i].inside + m[i].count > UINT32_MAX ||
        (uint64_t)m[i].outside + m[i].count > UINT32_MAX)
      return false;
  return true;
}

/* The runtime's rules for the maps (runtime/container.c), with its messages. */
static int check_userns(const struct launch_spec *s, char err[LAUNCH_SPEC_ERRLEN]) {
  const struct rt_idmap *u, *g;
  size_t nu, ng;
  if (s->n_uidmap > RT_MAX_IDMAPS || s->n_gidmap > RT_MAX_IDMAPS)
    return fail(err, "at most %d --uidmap/--gidmap ranges", RT_MAX_IDMAPS);
  if (!s->userns) {
    if (s->n_uidmap || s->n_gidmap)
      return fail(err, "--uidmap/--gidmap given without --userns");
    return 0;
  }
  effective_maps(s, &u, &nu, &g, &ng);
  if (!idmaps_parsed_ok(u, nu) || !idmaps_parsed_ok(g, ng) || rt_idmap_check(u, nu) < 0 ||
      rt_idmap_check(g, ng) < 0)
    return fail(err, "invalid --uidmap/--gidmap (1..%d non-overlapping ranges)", RT_MAX_IDMAPS);
  if (!rt_idmap_maps(u, nu, 0) || !rt_idmap_maps(g, ng, 0) || !rt_idmap_maps(u, nu, s->uid) ||
      !rt_idmap_maps(g, ng, s->gid))
    return fail(err, "--uidmap/--gidmap must map container id 0 and the --user ids");
  return 0;
}

int launch_spec_host_owner(const struct launch_spec *s, uint32_t uid, uint32_t gid,
                           uint32_t *ret_uid, uint32_t *ret_gid, char err[LAUNCH_SPEC_ERRLEN]) {
  uint32_t hu = uid, hg = gid;
  if (s->userns) {
    const struct rt_idmap *u, *g;
    size_t nu, ng;
    effective_maps(s, &u, &nu, &g, &ng);
    hu = rt_idmap_to_host(u, nu, uid);
    hg = rt_idmap_to_host(g, ng, gid);
    if (hu == UINT32_MAX || hg == UINT32_MAX) {
      snprintf(err, LAUNCH_SPEC_ERRLEN, "owner %u:%u is not mapped in the user namespace",
               (unsigned)uid, (unsigned)gid);
      return -ERANGE;
    }
  }
  *ret_uid = hu;
  *ret_gid = hg;
  return 0;
}

void launch_spec_fill_rt(const struct launch_spec *s, struct rt_spec *rt, char **env,
                         struct rt_mount *mounts) {
  rt->rootfs = s->rootfs;
  rt->hostname = s->hostname;
  rt->cwd = s->workdir;
  for (size_t i = 0; i < s->n_env; i++)
    env[i] = s->env[i];
  env[s->n_env] = NULL;
  rt->env = env;
  for (size_t i = 0; i < s->n_mounts; i++)
    mounts[i] = (struct rt_mount){s->mounts[i].source, s->mounts[i].target, s->mounts[i].readonly};
  rt->mounts = mounts;
  rt->n_mounts = s->n_mounts;
  rt->uid = s->uid;
  rt->gid = s->gid;
  rt->userns = s->userns;
  rt->uidmap = s->n_uidmap ? s->uidmap : NULL;
  rt->n_uidmap = s->n_uidmap;
  rt->gidmap = s->n_gidmap ? s->gidmap : NULL;
  rt->n_gidmap = s->n_gidmap;
  rt->readonly_rootfs = s->read_only;
  rt->init = s->init;
  rt->limits.memory_bytes = s->memory_bytes;
  rt->limits.cpu_quota_us = s->cpu_quota_us;
  rt->limits.cpu_period_us = s->cpu_quota_us ? LAUNCH_SPEC_CPU_PERIOD_US : 0;
  rt->limits.pids_max = s->pids_max;
  /* The content wins over the path (the launcher compiles it from memory, the agent
   * never writes it to a file); "unconfined" survives a decoded spec, which has no path. */
  rt->seccomp_profile = s->seccomp_unconfined ? "unconfined" : s->seccomp_path;
  rt->seccomp_json = s->seccomp_unconfined ? NULL : s->seccomp_json;
  rt->seccomp_json_len = s->seccomp_unconfined ? 0 : s->seccomp_len;
  rt->stop_timeout_ms = s->stop_timeout_s * 1000u;
}

int launch_spec_set_command(struct launch_spec *s, int argc, char *const *argv,
                            const char *usage, char err[LAUNCH_SPEC_ERRLEN]) {
  if (argc <= 0)
    return fail(err, "no command given (%s)", usage);
  if (argc > LAUNCH_SPEC_MAX_ARGV)
    return fail(err, "too many command arguments (max %d)", LAUNCH_SPEC_MAX_ARGV);
  for (int i = 0; i < argc; i++)
    if (strlen(argv[i]) > LAUNCH_SPEC_STR_MAX)
      return fail(err, "command argument %d is longer than %d bytes", i, LAUNCH_SPEC_STR_MAX);
  char **a = calloc((size_t)argc + 1, sizeof(*a));
  if (!a)
    return -ENOMEM;
  for (int i = 0; i < argc; i++)
    if (!(a[i] = strdup(argv[i]))) {
      for (int j = 0; j < i; j++)
        free(a[j]);
      free(a);
      return -ENOMEM;
    }
  for (size_t i = 0; i < s->argc; i++)
    free(s->argv[i]);
  free(s->argv);
  s->argv = a;
  s->argc = (size_t)argc;
  return 0;
}

int launch_spec_caps(const struct launch_spec *s, uint64_t host, uint64_t *ret_caps,
                     char err[LAUNCH_SPEC_ERRLEN]) {
  uint64_t caps = rt_caps_docker_default();
  /* Docker's order: drops first, then adds; ALL means the host's bounding set. */
  for (size_t i = 0; i < s->n_cap_drop; i++) {
    if (strcasecmp(s->cap_drop[i], "ALL") == 0) {
      caps = 0;
      continue;
    }
    int c = rt_caps_from_name(s->cap_drop[i]);
    if (c < 0)
      return fail(err, "--cap-drop: unknown capability \"%s\"", s->cap_drop[i]);
    caps &= ~(UINT64_C(1) << c);
  }
  for (size_t i = 0; i < s->n_cap_add; i++) {
    if (strcasecmp(s->cap_add[i], "ALL") == 0) {
      caps |= host;
      continue;
    }
    int c = rt_caps_from_name(s->cap_add[i]);
    if (c < 0)
      return fail(err, "--cap-add: unknown capability \"%s\"", s->cap_add[i]);
    if (!(host & (UINT64_C(1) << c)))
      return fail(err, "--cap-add: %s is not in the host's bounding set", s->cap_add[i]);
    caps |= UINT64_C(1) << c;
  }
  *ret_caps = caps & host;
  return 0;
}

static void releasep(scmp_filter_ctx *ctx) {
  if (*ctx)
    seccomp_release(*ctx);
}

/* Compile the profile in memory (nothing is loaded) for the spec's capabilities, as
 * far as they are known without a host: ALL = every capability. */
static int seccomp_check(const struct launch_spec *s, const void *json, size_t len,
                         char err[LAUNCH_SPEC_ERRLEN]) {
  _cleanup_(releasep) scmp_filter_ctx ctx = NULL;
  char why[RT_SCMP_ERRLEN] = "";
  uint64_t caps;
  unsigned flags = 0;
  int r = launch_spec_caps(s, UINT64_MAX, &caps, err);
  if (r < 0)
    return r;
  if (len > LAUNCH_SPEC_SECCOMP_MAX)
    return fail(err, "seccomp: the profile is larger than %u bytes", LAUNCH_SPEC_SECCOMP_MAX);
  r = rt_seccomp_profile_build(json, len, caps, &ctx, &flags, why);
  if (r == -ENOMEM)
    return r;
  if (r < 0)
    return fail(err, "seccomp: %s", why[0] ? why : "invalid profile");
  return 0;
}

int launch_spec_set_seccomp(struct launch_spec *s, const void *json, size_t len,
                            char err[LAUNCH_SPEC_ERRLEN]) {
  int r = seccomp_check(s, json, len, err);
  if (r < 0)
    return r;
  uint8_t *c = malloc(len ? len : 1);
  if (!c)
    return -ENOMEM;
  memcpy(c, json, len);
  free(s->seccomp_json);
  s->seccomp_json = c;
  s->seccomp_len = len;
  s->seccomp_unconfined = false;
  return 0;
}

int launch_spec_validate(const struct launch_spec *s, char err[LAUNCH_SPEC_ERRLEN]) {
  if (!s->rootfs || !s->rootfs[0])
    return fail(err, "--rootfs DIR is required");
  if (s->workdir && s->workdir[0] != '/')
    return fail(err, "--workdir must be an absolute path");
  if (s->n_env > LAUNCH_SPEC_MAX_ITEMS)
    return too_many(err, "--env");
  for (size_t i = 0; i < s->n_env; i++)
    if (!env_ok(s->env[i]))
      return fail(err, "--env: expected K=V, got \"%s\"", s->env[i] ? s->env[i] : "");
  if (s->n_mounts > LAUNCH_SPEC_MAX_ITEMS)
    return too_many(err, "--mount");
  for (size_t i = 0; i < s->n_mounts; i++)
    if (!mount_ok(s->mounts[i].source, s->mounts[i].target))
      return fail(err, "--mount: expected SRC:/DST[:ro]");
  if (s->n_cap_add > LAUNCH_SPEC_MAX_ITEMS)
    return too_many(err, "--cap-add");
  if (s->n_cap_drop > LAUNCH_SPEC_MAX_ITEMS)
    return too_many(err, "--cap-drop");
  for (size_t i = 0; i < s->n_cap_drop; i++)
    if (!cap_name_ok(s->cap_drop[i]))
      return fail(err, "--cap-drop: unknown capability \"%s\"", s->cap_drop[i]);
  for (size_t i = 0; i < s->n_cap_add; i++)
    if (!cap_name_ok(s->cap_add[i]))
      return fail(err, "--cap-add: unknown capability \"%s\"", s->cap_add[i]);
  if (s->uid == UINT32_MAX || s->gid == UINT32_MAX)
    return fail(err, "--user: expected UID[:GID] (numbers), got \"%u:%u\"", s->uid, s->gid);
  int ur = check_userns(s, err);
  if (ur < 0)
    return ur;
  if (s->memory_bytes < 0)
    return fail(err, "--memory: expected a size such as 64m or 1g, got \"%lld\"",
                (long long)s->memory_bytes);
  if (s->cpu_quota_us && !cpu_quota_ok(s->cpu_quota_us))
    return fail(err, "--cpus: expected a number such as 0.5 (>= 0.01), got \"%lld.%05lld\"",
                (long long)(s->cpu_quota_us / LAUNCH_SPEC_CPU_PERIOD_US),
                (long long)(s->cpu_quota_us % LAUNCH_SPEC_CPU_PERIOD_US));
  if (s->pids_max < 0)
    return fail(err, "--pids-limit: expected a positive number, got \"%lld\"",
                (long long)s->pids_max);
  if (s->stop_timeout_s > LAUNCH_SPEC_STOP_TIMEOUT_MAX)
    return fail(err, "--stop-timeout: expected seconds (0..86400), got \"%u\"", s->stop_timeout_s);
  if ((unsigned)s->restart >= ARRAY_SIZE(restart_names))
    return fail(err, "--restart: expected no, on-failure or always, got \"%u\"",
                (unsigned)s->restart);
  if (s->seccomp_unconfined && s->seccomp_json)
    return fail(err, "seccomp: a profile and \"unconfined\" given together");
  if (s->seccomp_json) {
    int r = seccomp_check(s, s->seccomp_json, s->seccomp_len, err);
    if (r < 0)
      return r;
  }
  if (s->argc == 0 || !s->argv || !s->argv[0])
    return fail(err, "no command given");
  if (s->argc > LAUNCH_SPEC_MAX_ARGV)
    return fail(err, "too many command arguments (max %d)", LAUNCH_SPEC_MAX_ARGV);
  return 0;
}
