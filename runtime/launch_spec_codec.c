/*
 * The launch spec's msgpack form (for the store and the wire), and its strict
 * decoder. See runtime/launch_spec.h. Fuzzed: tests/fuzz/fuzz_launch_spec.c.
 *
 *   {"v":1, "rootfs":str, "argv":[str...],            always
 *    "hostname":str, "workdir":str, "env":[str...],
 *    "mounts":[[src, dst, ro(bool)]...], "cap_add":[str...], "cap_drop":[str...],
 *    "uid":uint, "gid":uint, "read_only":true, "init":true, "memory":uint,
 *    "cpu_quota":uint, "pids":uint, "stop_timeout":uint, "restart":str,
 *    "seccomp":bin | "seccomp_unconfined":true,
 *    "userns":true, "uidmap":[[inside, outside, count]...], "gidmap":[...]}
 *                                                     when not the default
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "runtime/launch_spec.h"

#define SPEC_VERSION 1

static int pack_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  return msgpack_pack_str(pk, n) | msgpack_pack_str_body(pk, s, n);
}

static int pack_strs(msgpack_packer *pk, const char *key, char *const *v, size_t n) {
  int r = pack_str(pk, key) | msgpack_pack_array(pk, (uint32_t)n);
  for (size_t i = 0; i < n; i++)
    r |= pack_str(pk, v[i]);
  return r;
}

static int pack_idmaps(msgpack_packer *pk, const char *key, const struct rt_idmap *m, size_t n) {
  int r = pack_str(pk, key) | msgpack_pack_array(pk, (uint32_t)n);
  for (size_t i = 0; i < n; i++)
    r |= msgpack_pack_array(pk, 3) | msgpack_pack_uint32(pk, m[i].inside) |
         msgpack_pack_uint32(pk, m[i].outside) | msgpack_pack_uint32(pk, m[i].count);
  return r;
}

int launch_spec_encode(const struct launch_spec *s, msgpack_sbuffer *sb) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  uint32_t n = 3 + !!s->hostname + !!s->workdir + !!s->n_env + !!s->n_mounts + !!s->n_cap_add +
               !!s->n_cap_drop + !!s->uid + !!s->gid + s->read_only + s->init +
               !!s->memory_bytes + !!s->cpu_quota_us + !!s->pids_max +
               (s->stop_timeout_s != LAUNCH_SPEC_STOP_TIMEOUT_DEFAULT) +
               (s->restart != LAUNCH_RESTART_NO) + !!s->seccomp_json + s->seccomp_unconfined +
               s->userns + !!s->n_uidmap + !!s->n_gidmap;
  int r = msgpack_pack_map(&pk, n);
  r |= pack_str(&pk, "v") | msgpack_pack_uint32(&pk, SPEC_VERSION);
  r |= pack_str(&pk, "rootfs") | pack_str(&pk, s->rootfs ? s->rootfs : "");
  r |= pack_strs(&pk, "argv", s->argv, s->argc);
  if (s->hostname)
    r |= pack_str(&pk, "hostname") | pack_str(&pk, s->hostname);
  if (s->workdir)
    r |= pack_str(&pk, "workdir") | pack_str(&pk, s->workdir);
  if (s->n_env)
    r |= pack_strs(&pk, "env", s->env, s->n_env);
  if (s->n_mounts) {
    r |= pack_str(&pk, "mounts") | msgpack_pack_array(&pk, (uint32_t)s->n_mounts);
    for (size_t i = 0; i < s->n_mounts; i++) {
      r |= msgpack_pack_array(&pk, 3) | pack_str(&pk, s->mounts[i].source) |
           pack_str(&pk, s->mounts[i].target);
      r |= s->mounts[i].readonly ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    }
  }
  if (s->n_cap_add)
    r |= pack_strs(&pk, "cap_add", s->cap_add, s->n_cap_add);
  if (s->n_cap_drop)
    r |= pack_strs(&pk, "cap_drop", s->cap_drop, s->n_cap_drop);
  if (s->uid)
    r |= pack_str(&pk, "uid") | msgpack_pack_uint32(&pk, s->uid);
  if (s->gid)
    r |= pack_str(&pk, "gid") | msgpack_pack_uint32(&pk, s->gid);
  if (s->read_only)
    r |= pack_str(&pk, "read_only") | msgpack_pack_true(&pk);
  if (s->init)
    r |= pack_str(&pk, "init") | msgpack_pack_true(&pk);
  if (s->memory_bytes)
    r |= pack_str(&pk, "memory") | msgpack_pack_int64(&pk, s->memory_bytes);
  if (s->cpu_quota_us)
    r |= pack_str(&pk, "cpu_quota") | msgpack_pack_int64(&pk, s->cpu_quota_us);
  if (s->pids_max)
    r |= pack_str(&pk, "pids") | msgpack_pack_int64(&pk, s->pids_max);
  if (s->stop_timeout_s != LAUNCH_SPEC_STOP_TIMEOUT_DEFAULT)
    r |= pack_str(&pk, "stop_timeout") | msgpack_pack_uint32(&pk, s->stop_timeout_s);
  if (s->restart != LAUNCH_RESTART_NO)
    r |= pack_str(&pk, "restart") | pack_str(&pk, launch_restart_name(s->restart));
  if (s->seccomp_json)
    r |= pack_str(&pk, "seccomp") | msgpack_pack_bin(&pk, s->seccomp_len) |
         msgpack_pack_bin_body(&pk, s->seccomp_json, s->seccomp_len);
  if (s->seccomp_unconfined)
    r |= pack_str(&pk, "seccomp_unconfined") | msgpack_pack_true(&pk);
  if (s->userns)
    r |= pack_str(&pk, "userns") | msgpack_pack_true(&pk);
  if (s->n_uidmap)
    r |= pack_idmaps(&pk, "uidmap", s->uidmap, s->n_uidmap);
  if (s->n_gidmap)
    r |= pack_idmaps(&pk, "gidmap", s->gidmap, s->n_gidmap);
  return r == 0 ? 0 : -ENOMEM;
}

/* ---- decoding ---- */

static int bad(char err[LAUNCH_SPEC_ERRLEN], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad(char err[LAUNCH_SPEC_ERRLEN], const char *fmt, ...) {
  va_list ap;
  int n = snprintf(err, LAUNCH_SPEC_ERRLEN, "launch spec: ");
  va_start(ap, fmt);
  vsnprintf(err + n, LAUNCH_SPEC_ERRLEN - (size_t)n, fmt, ap);
  va_end(ap);
  return -EBADMSG;
}

static bool key_is(const msgpack_object *k, const char *s) {
  size_t n = strlen(s);
  return k->via.str.size == n && (!n || memcmp(k->via.str.ptr, s, n) == 0);
}

/* A str without NUL of at most LAUNCH_SPEC_STR_MAX bytes, copied into *ret. */
static int get_str(const msgpack_object *o, const char *what, char **ret,
                   char err[LAUNCH_SPEC_ERRLEN]) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > LAUNCH_SPEC_STR_MAX ||
      (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size)))
    return bad(err, "%s must be a string of at most %d bytes without NUL", what,
               LAUNCH_SPEC_STR_MAX);
  char *c = sd_strdup_n(o->via.str.ptr, o->via.str.size);
  if (!c)
    return -ENOMEM;
  free(*ret);
  *ret = c;
  return 0;
}

static int get_strs(const msgpack_object *o, const char *what, size_t max, char **arr,
                    size_t *ret_n, char err[LAUNCH_SPEC_ERRLEN]) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > max)
    return bad(err, "%s must be an array of at most %zu strings", what, max);
  for (uint32_t i = 0; i < o->via.array.size; i++) {
    int r = get_str(&o->via.array.ptr[i], what, &arr[i], err);
    if (r < 0)
      return r;
    *ret_n = i + 1;
  }
  return 0;
}

static int get_uint(const msgpack_object *o, const char *what, uint64_t max, uint64_t *ret,
                    char err[LAUNCH_SPEC_ERRLEN]) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
    return bad(err, "%s must be an unsigned integer of at most %llu", what,
               (unsigned long long)max);
  *ret = o->via.u64;
  return 0;
}

static int get_true(const msgpack_object *o, const char *what, bool *ret,
                    char err[LAUNCH_SPEC_ERRLEN]) {
  if (o->type != MSGPACK_OBJECT_BOOLEAN || !o->via.boolean)
    return bad(err, "%s must be true (omitted when false)", what);
  *ret = true;
  return 0;
}

static int get_mounts(const msgpack_object *o, struct launch_spec *s,
                      char err[LAUNCH_SPEC_ERRLEN]) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > LAUNCH_SPEC_MAX_ITEMS)
    return bad(err, "mounts must be an array of at most %d mounts", LAUNCH_SPEC_MAX_ITEMS);
  for (uint32_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *m = &o->via.array.ptr[i];
    if (m->type != MSGPACK_OBJECT_ARRAY || m->via.array.size != 3 ||
        m->via.array.ptr[2].type != MSGPACK_OBJECT_BOOLEAN)
      return bad(err, "a mount must be [source, target, readonly]");
    struct launch_mount *lm = &s->mounts[i];
    s->n_mounts = i + 1; /* owned from here on, for launch_spec_clear */
    int r;
    if ((r = get_str(&m->via.array.ptr[0], "mount source", &lm->source, err)) < 0 ||
        (r = get_str(&m->via.array.ptr[1], "mount target", &lm->target, err)) < 0)
      return r;
    lm->readonly = m->via.array.ptr[2].via.boolean;
  }
  return 0;
}

/* [[inside, outside, count]...]: 1..RT_MAX_IDMAPS ranges of uint32 (the rules: validate). */
static int get_idmaps(const msgpack_object *o, const char *what, struct rt_idmap *m,
                      size_t *ret_n, char err[LAUNCH_SPEC_ERRLEN]) {
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 ||
      o->via.array.size > RT_MAX_IDMAPS)
    return bad(err, "%s must be an array of 1 to %d ranges", what, RT_MAX_IDMAPS);
  for (uint32_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    uint64_t v[3];
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 3)
      return bad(err, "a %s range must be [inside, outside, count]", what);
    for (int j = 0; j < 3; j++) {
      int r = get_uint(&e->via.array.ptr[j], what, UINT32_MAX, &v[j], err);
      if (r < 0)
        return r;
    }
    m[i] = (struct rt_idmap){(uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2]};
  }
  *ret_n = o->via.array.size;
  return 0;
}

enum {
  K_V, K_ROOTFS, K_ARGV, K_HOSTNAME, K_WORKDIR, K_ENV, K_MOUNTS, K_CAP_ADD, K_CAP_DROP, K_UID,
  K_GID, K_READ_ONLY, K_INIT, K_MEMORY, K_CPU_QUOTA, K_PIDS, K_STOP_TIMEOUT, K_RESTART,
  K_SECCOMP, K_SECCOMP_UNCONFINED, K_USERNS, K_UIDMAP, K_GIDMAP, K__COUNT,
};
static const char *const keys[K__COUNT] = {
    "v", "rootfs", "argv", "hostname", "workdir", "env", "mounts", "cap_add", "cap_drop", "uid",
    "gid", "read_only", "init", "memory", "cpu_quota", "pids", "stop_timeout", "restart",
    "seccomp", "seccomp_unconfined", "userns", "uidmap", "gidmap",
};

static int decode_field(int k, const msgpack_object *v, struct launch_spec *s,
                        char err[LAUNCH_SPEC_ERRLEN]) {
  uint64_t n = 0;
  int r = 0;
  switch (k) {
  case K_V:
    if ((r = get_uint(v, "v", UINT32_MAX, &n, err)) < 0)
      return r;
    if (n != SPEC_VERSION)
      return bad(err, "version %llu is not supported (this build reads %d)",
                 (unsigned long long)n, SPEC_VERSION);
    return 0;
  case K_ROOTFS: return get_str(v, "rootfs", &s->rootfs, err);
  case K_HOSTNAME: return get_str(v, "hostname", &s->hostname, err);
  case K_WORKDIR: return get_str(v, "workdir", &s->workdir, err);
  case K_ENV: return get_strs(v, "env", LAUNCH_SPEC_MAX_ITEMS, s->env, &s->n_env, err);
  case K_CAP_ADD:
    return get_strs(v, "cap_add", LAUNCH_SPEC_MAX_ITEMS, s->cap_add, &s->n_cap_add, err);
  case K_CAP_DROP:
    return get_strs(v, "cap_drop", LAUNCH_SPEC_MAX_ITEMS, s->cap_drop, &s->n_cap_drop, err);
  case K_ARGV: {
    if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size > LAUNCH_SPEC_MAX_ARGV)
      return bad(err, "argv must be an array of at most %d strings", LAUNCH_SPEC_MAX_ARGV);
    if (!(s->argv = calloc((size_t)v->via.array.size + 1, sizeof(*s->argv))))
      return -ENOMEM;
    return get_strs(v, "argv", LAUNCH_SPEC_MAX_ARGV, s->argv, &s->argc, err);
  }
  case K_MOUNTS: return get_mounts(v, s, err);
  case K_UID:
  case K_GID:
    if ((r = get_uint(v, keys[k], UINT32_MAX - 1, &n, err)) < 0)
      return r;
    *(k == K_UID ? &s->uid : &s->gid) = (uint32_t)n;
    return 0;
  case K_READ_ONLY: return get_true(v, "read_only", &s->read_only, err);
  case K_INIT: return get_true(v, "init", &s->init, err);
  case K_SECCOMP_UNCONFINED: return get_true(v, "seccomp_unconfined", &s->seccomp_unconfined, err);
  case K_USERNS: return get_true(v, "userns", &s->userns, err);
  case K_UIDMAP: return get_idmaps(v, "uidmap", s->uidmap, &s->n_uidmap, err);
  case K_GIDMAP: return get_idmaps(v, "gidmap", s->gidmap, &s->n_gidmap, err);
  case K_MEMORY:
  case K_CPU_QUOTA:
  case K_PIDS: {
    if ((r = get_uint(v, keys[k], INT64_MAX, &n, err)) < 0)
      return r;
    if (n == 0)
      return bad(err, "%s must be positive (omitted when unlimited)", keys[k]);
    int64_t *dst = k == K_MEMORY ? &s->memory_bytes : k == K_CPU_QUOTA ? &s->cpu_quota_us
                                                                        : &s->pids_max;
    *dst = (int64_t)n;
    return 0;
  }
  case K_STOP_TIMEOUT:
    if ((r = get_uint(v, "stop_timeout", LAUNCH_SPEC_STOP_TIMEOUT_MAX, &n, err)) < 0)
      return r;
    s->stop_timeout_s = (unsigned)n;
    return 0;
  case K_RESTART:
    if (v->type != MSGPACK_OBJECT_STR)
      return bad(err, "restart must be a string");
    for (int i = LAUNCH_RESTART_NO; i <= LAUNCH_RESTART_ALWAYS; i++) {
      const char *name = launch_restart_name((enum launch_restart)i);
      if (v->via.str.size == strlen(name) && memcmp(v->via.str.ptr, name, v->via.str.size) == 0) {
        s->restart = (enum launch_restart)i;
        return 0;
      }
    }
    return bad(err, "restart must be no, on-failure or always");
  case K_SECCOMP:
    if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size > LAUNCH_SPEC_SECCOMP_MAX)
      return bad(err, "seccomp must be bin of at most %u bytes", LAUNCH_SPEC_SECCOMP_MAX);
    if (!(s->seccomp_json = malloc(v->via.bin.size ? v->via.bin.size : 1)))
      return -ENOMEM;
    memcpy(s->seccomp_json, v->via.bin.ptr, v->via.bin.size);
    s->seccomp_len = v->via.bin.size;
    return 0;
  }
  return bad(err, "unknown field");
}

static int decode_map(const msgpack_object *root, struct launch_spec *s,
                      char err[LAUNCH_SPEC_ERRLEN]) {
  bool seen[K__COUNT] = {false};
  if (root->type != MSGPACK_OBJECT_MAP)
    return bad(err, "not a map");
  for (uint32_t i = 0; i < root->via.map.size; i++) {
    const msgpack_object *k = &root->via.map.ptr[i].key;
    if (k->type != MSGPACK_OBJECT_STR)
      return bad(err, "a key is not a string");
    int which = -1;
    for (int j = 0; j < K__COUNT && which < 0; j++)
      if (key_is(k, keys[j]))
        which = j;
    if (which < 0)
      return bad(err, "unknown field \"%.*s\"", (int)(k->via.str.size > 32 ? 32 : k->via.str.size),
                 k->via.str.ptr);
    if (seen[which])
      return bad(err, "field \"%s\" given twice", keys[which]);
    seen[which] = true;
    int r = decode_field(which, &root->via.map.ptr[i].val, s, err);
    if (r < 0)
      return r;
  }
  if (!seen[K_V] || !seen[K_ROOTFS] || !seen[K_ARGV])
    return bad(err, "v, rootfs and argv are required");
  return 0;
}

/* ---- a pre-scan of the raw bytes, before msgpack-c allocates for them ----
 * msgpack-c sizes its allocations by the counts an input declares (a map32 can
 * claim 2^32 entries in 5 bytes), so those are checked against what the input can
 * hold first, together with the nesting and the number of values a spec can have. */

#define SCAN_MAX_DEPTH 4 /* map -> mounts array -> mount array -> str */
#define SCAN_MAX_NODES \
  (4 * LAUNCH_SPEC_MAX_ITEMS * 4 + LAUNCH_SPEC_MAX_ARGV + 2 * (1 + RT_MAX_IDMAPS * 4) + 64)

struct scan {
  const uint8_t *p;
  size_t len, pos, nodes;
};

static int scan_value(struct scan *s, unsigned depth);

static int scan_skip(struct scan *s, uint64_t n) {
  if (n > s->len - s->pos)
    return -EBADMSG;
  s->pos += (size_t)n;
  return 0;
}

static int scan_len(struct scan *s, unsigned bytes, uint64_t *ret) {
  uint64_t v = 0;
  if (bytes > s->len - s->pos)
    return -EBADMSG;
  for (unsigned i = 0; i < bytes; i++)
    v = v << 8 | s->p[s->pos++];
  *ret = v;
  return 0;
}

static int scan_items(struct scan *s, uint64_t count, bool is_map, unsigned depth) {
  uint64_t values = is_map ? 2 * count : count;
  /* every value takes at least one byte */
  if (count > s->len - s->pos || values > s->len - s->pos || depth + 1 > SCAN_MAX_DEPTH)
    return -EBADMSG;
  for (uint64_t i = 0; i < values; i++) {
    int r = scan_value(s, depth + 1);
    if (r < 0)
      return r;
  }
  return 0;
}

static int scan_value(struct scan *s, unsigned depth) {
  uint64_t n;
  int r;
  if (s->pos >= s->len || ++s->nodes > SCAN_MAX_NODES)
    return -EBADMSG;
  uint8_t t = s->p[s->pos++];
  if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
    return 0;
  if (t >= 0x80 && t <= 0x8f)
    return scan_items(s, t & 0x0f, true, depth);
  if (t >= 0x90 && t <= 0x9f)
    return scan_items(s, t & 0x0f, false, depth);
  if (t >= 0xa0 && t <= 0xbf)
    return scan_skip(s, t & 0x1f);
  switch (t) {
  case 0xc4: case 0xd9: return (r = scan_len(s, 1, &n)) < 0 ? r : scan_skip(s, n);
  case 0xc5: case 0xda: return (r = scan_len(s, 2, &n)) < 0 ? r : scan_skip(s, n);
  case 0xc6: case 0xdb: return (r = scan_len(s, 4, &n)) < 0 ? r : scan_skip(s, n);
  case 0xcc: case 0xd0: return scan_skip(s, 1);
  case 0xcd: case 0xd1: return scan_skip(s, 2);
  case 0xce: case 0xd2: case 0xca: return scan_skip(s, 4);
  case 0xcf: case 0xd3: case 0xcb: return scan_skip(s, 8);
  case 0xdc: return (r = scan_len(s, 2, &n)) < 0 ? r : scan_items(s, n, false, depth);
  case 0xdd: return (r = scan_len(s, 4, &n)) < 0 ? r : scan_items(s, n, false, depth);
  case 0xde: return (r = scan_len(s, 2, &n)) < 0 ? r : scan_items(s, n, true, depth);
  case 0xdf: return (r = scan_len(s, 4, &n)) < 0 ? r : scan_items(s, n, true, depth);
  default: return -EBADMSG; /* 0xc1 (never used), ext, fixext: no place in a spec */
  }
}

int launch_spec_decode(const void *data, size_t len, struct launch_spec *ret,
                       char err[LAUNCH_SPEC_ERRLEN]) {
  msgpack_unpacked u;
  size_t off = 0;
  int r;
  launch_spec_clear(ret);
  if (len > LAUNCH_SPEC_ENCODED_MAX)
    return snprintf(err, LAUNCH_SPEC_ERRLEN, "launch spec: larger than %zu bytes",
                    LAUNCH_SPEC_ENCODED_MAX), -E2BIG;
  struct scan sc = {.p = data, .len = len};
  if (scan_value(&sc, 0) < 0 || sc.pos != len)
    return bad(err, "not one well-formed msgpack value within the spec's bounds");
  msgpack_unpacked_init(&u);
  msgpack_unpack_return ur = msgpack_unpack_next(&u, data, len, &off);
  if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
    r = -ENOMEM;
  else if (ur != MSGPACK_UNPACK_SUCCESS)
    r = bad(err, "not msgpack");
  else if (off != len)
    r = bad(err, "trailing bytes");
  else if ((r = decode_map(&u.data, ret, err)) == 0)
    r = launch_spec_validate(ret, err);
  msgpack_unpacked_destroy(&u);
  if (r < 0)
    launch_spec_clear(ret);
  return r;
}
