/* The host's trust policy file: loading with ssh-like ownership checks,
 * validation, edits that keep unknown keys, atomic saving (see trust_policy.h). */
#include "image/trust_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "image/digest.h"

struct trust_policy {
  json_object *root;
  char path[PATH_MAX];
  char digest[IMG_HEX_LEN + 1];
  bool exists;
};

const char *trust_policy_path(const char *opt) {
  if (opt && *opt)
    return opt;
  const char *e = getenv(TRUST_POLICY_ENV);
  return e && *e ? e : TRUST_DEFAULT_POLICY;
}

void trust_policy_free(struct trust_policy *p) {
  if (!p)
    return;
  json_object_put(p->root);
  free(p);
}

/* A string without NUL bytes (what strcmp and friends see is all there is). */
static bool clean_str(json_object *v) {
  return json_object_is_type(v, json_type_string) &&
         (size_t)json_object_get_string_len(v) == strlen(json_object_get_string(v));
}

static bool keyid_array(json_object *a) {
  if (!a || !json_object_is_type(a, json_type_array) || json_object_array_length(a) > 256)
    return false;
  for (size_t i = 0; i < json_object_array_length(a); i++) {
    json_object *v = json_object_array_get_idx(a, i);
    if (!clean_str(v) || !trust_keyid_valid(json_object_get_string(v)))
      return false;
  }
  return true;
}

/* Check the fields we own; other top-level keys are not ours to judge. */
static int validate(json_object *o, struct img_err *err) {
  json_object *v;
  if (json_object_object_get_ex(o, "enforce", &v) && !json_object_is_type(v, json_type_boolean))
    return img_fail(err, -EINVAL, "\"enforce\" must be true or false");
  if (json_object_object_get_ex(o, "require", &v) &&
      (!clean_str(v) || !trust_channel_valid(json_object_get_string(v))))
    return img_fail(err, -EINVAL, "\"require\" must be a channel name");
  static const char *const secs[] = {"warn", "grace"};
  for (size_t i = 0; i < 2; i++)
    if (json_object_object_get_ex(o, secs[i], &v) &&
        (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
         json_object_get_int64(v) > (int64_t)100 * 366 * 86400))
      return img_fail(err, -EINVAL, "\"%s\" must be a number of seconds", secs[i]);
  if (json_object_object_get_ex(o, "keys", &v)) {
    if (!json_object_is_type(v, json_type_object))
      return img_fail(err, -EINVAL, "\"keys\" must be an object of key id: base64 public key");
    json_object_object_foreach(v, id, pkv) {
      uint8_t pk[33];
      char want[TRUST_KEYID_LEN + 1];
      if (!clean_str(pkv) ||
          trust_b64_decode(json_object_get_string(pkv), pk, sizeof pk) != 32)
        return img_fail(err, -EINVAL, "\"keys\": %.64s is not a base64 Ed25519 public key", id);
      trust_keyid(pk, want);
      if (strcmp(want, id))
        return img_fail(err, -EINVAL, "\"keys\": key id %.64s does not match its public key", id);
    }
  }
  if (json_object_object_get_ex(o, "rules", &v)) {
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > 1024)
      return img_fail(err, -EINVAL, "\"rules\" must be an array");
    static const char *const rf[] = {"pattern", "channel", "threshold", "keys", NULL};
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      json_object *r = json_object_array_get_idx(v, i);
      json_object *pat, *ch, *th;
      if (!json_object_is_type(r, json_type_object) || !trust_json_only(r, rf) ||
          !(pat = trust_json_get(r, "pattern", json_type_string)) ||
          !(ch = trust_json_get(r, "channel", json_type_string)) ||
          !(th = trust_json_get(r, "threshold", json_type_int)) ||
          !keyid_array(trust_json_get(r, "keys", json_type_array)))
        return img_fail(err, -EINVAL, "\"rules\"[%zu]: needs pattern, channel, threshold, keys", i);
      size_t pl = (size_t)json_object_get_string_len(pat);
      if (pl == 0 || pl > 256 || pl != strlen(json_object_get_string(pat)))
        return img_fail(err, -EINVAL, "\"rules\"[%zu]: pattern empty or too long", i);
      if (!clean_str(ch) || !trust_channel_valid(json_object_get_string(ch)))
        return img_fail(err, -EINVAL, "\"rules\"[%zu]: channel is not a channel name", i);
      int64_t t = json_object_get_int64(th);
      if (t < 1 || t > TRUST_MAX_THRESHOLD)
        return img_fail(err, -EINVAL, "\"rules\"[%zu]: threshold must be 1..%d", i, TRUST_MAX_THRESHOLD);
    }
  }
  if (json_object_object_get_ex(o, "revoked", &v) && !keyid_array(v))
    return img_fail(err, -EINVAL, "\"revoked\" must be an array of key ids");
  return 0;
}

static int parse_into(const char *text, size_t len, struct trust_policy *p, struct img_err *err) {
  if (len > TRUST_POLICY_MAX)
    return img_fail(err, -EINVAL, "larger than %d bytes", TRUST_POLICY_MAX);
  if (trust_json_parse(text, len, &p->root) < 0)
    return img_fail(err, -EINVAL, "not a JSON object");
  int r = validate(p->root, err);
  if (r < 0)
    return r;
  img_sha256_hex(text, len, p->digest);
  return 0;
}

int trust_policy_parse(const char *text, size_t len, struct trust_policy **ret, struct img_err *err) {
  _cleanup_(trust_policy_freep) struct trust_policy *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  int r = parse_into(text, len, p, err);
  if (r < 0)
    return r;
  p->exists = true;
  *ret = TAKE_PTR(p);
  return 0;
}

/* ssh's rule: owned by root or us, not writable by group or others (a
 * root-owned sticky directory excepted, for directories). */
static int check_owner(const char *what, const struct stat *st, bool dir, struct img_err *err) {
  uid_t me = geteuid();
  if (st->st_uid != 0 && st->st_uid != me)
    return img_fail(err, -EPERM, "%s is owned by uid %u, not root", what, (unsigned)st->st_uid);
  if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(dir && st->st_uid == 0 && (st->st_mode & S_ISVTX)))
    return img_fail(err, -EPERM, "%s must not be writable by group or others (chmod go-w)", what);
  return 0;
}

static int check_ancestors(const char *real, struct img_err *err) {
  char d[PATH_MAX];
  snprintf(d, sizeof d, "%s", real);
  for (;;) {
    char *slash = strrchr(d, '/');
    if (!slash)
      return 0;
    if (slash == d)
      slash[1] = '\0';
    else
      *slash = '\0';
    struct stat st;
    if (stat(d, &st) < 0)
      return img_fail(err, -errno, "%s: %s", d, strerror(errno));
    char what[PATH_MAX + 16];
    snprintf(what, sizeof what, "directory %s", d);
    int r = check_owner(what, &st, true, err);
    if (r < 0)
      return r;
    if (!strcmp(d, "/"))
      return 0;
  }
}

int trust_policy_load(const char *path, struct trust_policy **ret, struct img_err *err) {
  _cleanup_(trust_policy_freep) struct trust_policy *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  if (snprintf(p->path, sizeof p->path, "%s", path) >= (int)sizeof p->path)
    return img_fail(err, -ENAMETOOLONG, "policy path too long");
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && errno == ENOENT) {
    p->root = json_object_new_object();
    if (!p->root)
      return -ENOMEM;
    img_sha256_hex("", 0, p->digest);
    *ret = TAKE_PTR(p);
    return 0;
  }
  if (fd < 0)
    return img_fail(err, -errno, "policy %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0)
    return img_fail(err, -errno, "policy %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return img_fail(err, -EINVAL, "policy %s is not a regular file", path);
  char what[PATH_MAX + 16], real[PATH_MAX];
  snprintf(what, sizeof what, "policy %s", path);
  int r = check_owner(what, &st, false, err);
  if (r < 0)
    return r;
  if (!realpath(path, real))
    return img_fail(err, -errno, "policy %s: %s", path, strerror(errno));
  if ((r = check_ancestors(real, err)) < 0) {
    img_err_prefix(err, "policy %s: ", path);
    return r;
  }
  if (st.st_size > TRUST_POLICY_MAX)
    return img_fail(err, -EINVAL, "policy %s is larger than %d bytes", path, TRUST_POLICY_MAX);
  _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return -ENOMEM;
  size_t n = 0;
  while (n < (size_t)st.st_size) {
    ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return img_fail(err, -errno, "policy %s: %s", path, strerror(errno));
    if (k == 0)
      break;
    n += (size_t)k;
  }
  if ((r = parse_into(buf, n, p, err)) < 0) {
    img_err_prefix(err, "policy %s: ", path);
    return r;
  }
  p->exists = true;
  *ret = TAKE_PTR(p);
  return 0;
}

int trust_policy_save(struct trust_policy *p, struct img_err *err) {
  _cleanup_free_ char *text = trust_json_text(p->root, true);
  if (!text)
    return -ENOMEM;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", p->path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
      return img_fail(err, -errno, "creating %s: %s", dir, strerror(errno));
  }
  struct stat st; /* keep the file's mode (never group/world-writable); 0644 for a new one */
  unsigned mode = stat(p->path, &st) == 0 ? (st.st_mode & 0755) : 0644;
  int r = trust_write_atomic(p->path, text, strlen(text), mode);
  if (r < 0)
    return img_fail(err, r, "writing policy %s: %s", p->path, strerror(-r));
  img_sha256_hex(text, strlen(text), p->digest);
  p->exists = true;
  return 0;
}

json_object *trust_policy_json(const struct trust_policy *p) { return p->root; }
const char *trust_policy_file(const struct trust_policy *p) { return p->path; }
bool trust_policy_exists(const struct trust_policy *p) { return p->exists; }
const char *trust_policy_digest(const struct trust_policy *p) { return p->digest; }

bool trust_policy_enforced(const struct trust_policy *p, const char *env) {
  json_object *v = trust_json_get(p->root, "enforce", json_type_boolean);
  return (v && json_object_get_boolean(v)) || (env && !strcmp(env, "1"));
}

const char *trust_policy_required(const struct trust_policy *p) {
  json_object *v = trust_json_get(p->root, "require", json_type_string);
  return v ? json_object_get_string(v) : NULL;
}

int64_t trust_policy_warn(const struct trust_policy *p) {
  json_object *v = trust_json_get(p->root, "warn", json_type_int);
  return v ? json_object_get_int64(v) : TRUST_DEFAULT_WARN;
}

int64_t trust_policy_grace(const struct trust_policy *p) {
  json_object *v = trust_json_get(p->root, "grace", json_type_int);
  return v ? json_object_get_int64(v) : 0;
}

static bool array_has(json_object *a, const char *s) {
  if (!a)
    return false;
  for (size_t i = 0; i < json_object_array_length(a); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(a, i)), s))
      return true;
  return false;
}

/* The deciding rule: the longest matching pattern for channel. */
static json_object *find_rule(const struct trust_policy *p, const char *name, const char *channel) {
  json_object *rules = trust_json_get(p->root, "rules", json_type_array), *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
    json_object *r = json_object_array_get_idx(rules, i);
    const char *pat = json_object_get_string(trust_json_get(r, "pattern", json_type_string));
    const char *ch = json_object_get_string(trust_json_get(r, "channel", json_type_string));
    if (strcmp(ch, channel) || fnmatch(pat, name, 0) != 0)
      continue;
    if (!best || strlen(pat) > best_len)
      best = r, best_len = strlen(pat);
  }
  return best;
}

bool trust_policy_rule(const struct trust_policy *p, const char *name, const char *channel,
                       int *ret_threshold) {
  json_object *r = find_rule(p, name, channel);
  if (!r)
    return false;
  *ret_threshold = (int)json_object_get_int64(trust_json_get(r, "threshold", json_type_int));
  return true;
}

bool trust_policy_revoked(const struct trust_policy *p, const char *keyid) {
  return array_has(trust_json_get(p->root, "revoked", json_type_array), keyid);
}

bool trust_policy_key(const struct trust_policy *p, const char *keyid, uint8_t pk[32]) {
  json_object *keys = trust_json_get(p->root, "keys", json_type_object);
  json_object *v = keys ? trust_json_get(keys, keyid, json_type_string) : NULL;
  if (!v || trust_policy_revoked(p, keyid))
    return false;
  return trust_b64_decode(json_object_get_string(v), pk, 32) == 32;
}

bool trust_policy_counts(const struct trust_policy *p, const char *name, const char *channel,
                         const char *keyid) {
  uint8_t pk[32];
  json_object *r = find_rule(p, name, channel);
  return r && array_has(trust_json_get(r, "keys", json_type_array), keyid) &&
         trust_policy_key(p, keyid, pk);
}

/* The member key of o, created as an empty container of type t if absent. */
static json_object *member(json_object *o, const char *key, json_type t) {
  json_object *v = trust_json_get(o, key, t);
  if (v)
    return v;
  v = t == json_type_array ? json_object_new_array() : json_object_new_object();
  json_object_object_add(o, key, v);
  return v;
}

int trust_policy_trust(struct trust_policy *p, const char *pattern, const char *channel,
                       const uint8_t pk[32], const char *keyid, int threshold, struct img_err *err) {
  if (!pattern || !*pattern || strlen(pattern) > 256)
    return img_fail(err, -EINVAL, "pattern must be 1..256 characters");
  if (!trust_channel_valid(channel))
    return img_fail(err, -EINVAL, "\"%.64s\" is not a channel name ([a-z0-9._-], 1..%d)", channel,
                    TRUST_MAX_CHANNEL);
  if (threshold < 0 || threshold > TRUST_MAX_THRESHOLD)
    return img_fail(err, -EINVAL, "threshold must be 1..%d", TRUST_MAX_THRESHOLD);
  if (trust_policy_revoked(p, keyid))
    return img_fail(err, -EINVAL, "key %.16s was revoked by policy untrust; a revoked key is never "
                    "trusted again (make a new key)", keyid);
  _cleanup_free_ char *b64 = trust_b64_encode(pk, 32);
  if (!b64)
    return -ENOMEM;
  json_object_object_add(member(p->root, "keys", json_type_object), keyid, json_object_new_string(b64));
  json_object *rules = member(p->root, "rules", json_type_array), *rule = NULL;
  for (size_t i = 0; i < json_object_array_length(rules) && !rule; i++) {
    json_object *r = json_object_array_get_idx(rules, i);
    if (!strcmp(json_object_get_string(trust_json_get(r, "pattern", json_type_string)), pattern) &&
        !strcmp(json_object_get_string(trust_json_get(r, "channel", json_type_string)), channel))
      rule = r;
  }
  if (!rule) {
    rule = json_object_new_object();
    json_object_object_add(rule, "pattern", json_object_new_string(pattern));
    json_object_object_add(rule, "channel", json_object_new_string(channel));
    json_object_object_add(rule, "threshold", json_object_new_int(threshold ? threshold : 1));
    json_object_object_add(rule, "keys", json_object_new_array());
    json_object_array_add(rules, rule);
  } else if (threshold) {
    json_object_object_add(rule, "threshold", json_object_new_int(threshold));
  }
  json_object *keys = trust_json_get(rule, "keys", json_type_array);
  if (!array_has(keys, keyid))
    json_object_array_add(keys, json_object_new_string(keyid));
  return 0;
}

int trust_policy_untrust(struct trust_policy *p, const char *keyid, struct img_err *err) {
  if (!trust_keyid_valid(keyid))
    return img_fail(err, -EINVAL, "\"%.80s\" is not a key id (64 hex digits) or .pub file", keyid);
  bool known = false;
  json_object *keys = trust_json_get(p->root, "keys", json_type_object);
  if (keys && json_object_object_get_ex(keys, keyid, NULL)) {
    json_object_object_del(keys, keyid);
    known = true;
  }
  json_object *rules = trust_json_get(p->root, "rules", json_type_array);
  for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
    json_object *a = trust_json_get(json_object_array_get_idx(rules, i), "keys", json_type_array);
    for (size_t j = json_object_array_length(a); j-- > 0;)
      if (!strcmp(json_object_get_string(json_object_array_get_idx(a, j)), keyid)) {
        json_object_array_del_idx(a, j, 1);
        known = true;
      }
  }
  json_object *rev = member(p->root, "revoked", json_type_array);
  if (!array_has(rev, keyid))
    json_object_array_add(rev, json_object_new_string(keyid));
  return known ? 0 : -ENOENT;
}

int trust_policy_require(struct trust_policy *p, const char *channel, struct img_err *err) {
  if (!trust_channel_valid(channel))
    return img_fail(err, -EINVAL, "\"%.64s\" is not a channel name ([a-z0-9._-], 1..%d)", channel,
                    TRUST_MAX_CHANNEL);
  json_object_object_add(p->root, "require", json_object_new_string(channel));
  return 0;
}

int trust_policy_set_enforce(struct trust_policy *p, bool on, struct img_err *err) {
  if (on && !trust_policy_required(p))
    return img_fail(err, -EINVAL, "set the channel this host runs first (policy require CHANNEL)");
  json_object_object_add(p->root, "enforce", json_object_new_boolean(on));
  return 0;
}

int trust_policy_set_seconds(struct trust_policy *p, const char *field, int64_t secs,
                             struct img_err *err) {
  if (secs < 0 || (strcmp(field, "warn") && strcmp(field, "grace")))
    return img_fail(err, -EINVAL, "bad %s", field);
  json_object_object_add(p->root, field, json_object_new_int64(secs));
  return 0;
}
