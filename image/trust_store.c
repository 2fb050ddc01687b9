/* Signatures, marks and verdicts in the image store (see trust_store.h). */
#include "image/trust_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/internal.h"
#include "image/trust_log.h"
#include "image/trust_policy.h"

#define VERDICT_MAX (1 << 20)

static void json_putp(json_object **o) { json_object_put(*o); }
#define _cleanup_json_ _cleanup_(json_putp)

static void closedirp(DIR **d) {
  if (*d)
    closedir(*d);
}

/* Write text to dir/name atomically (temporary file in dir, fsync, rename). */
static int write_at(int dfd, const char *name, const char *text, size_t len) {
  char tmp[160];
  snprintf(tmp, sizeof tmp, ".%s.%d.tmp", name, (int)getpid());
  _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  int r = sd_write_all(fd, text, len);
  if (r == 0 && fsync(fd) < 0)
    r = -errno;
  if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
    r = -errno;
  if (r < 0)
    unlinkat(dfd, tmp, 0);
  return r;
}

/* Read a small file under dfd into a malloc'd NUL-terminated buffer. */
static int read_at(int dfd, const char *name, size_t max, char **ret, size_t *ret_len) {
  _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  return sd_read_all_alloc(fd, max, ret, ret_len);
}

/* images/<hex>/signatures, created with create. */
static int sigdir(struct img_store *s, const char *hex, bool create) {
  char p[128];
  snprintf(p, sizeof p, "images/%s/signatures", hex);
  if (create && mkdirat(img_store_fd(s), p, 0700) < 0 && errno != EEXIST)
    return -errno;
  int fd = openat(img_store_fd(s), p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int trust_store_add(struct img_store *s, const char *hex, const struct trust_statement *st,
                    const char *envelope, struct img_err *err) {
  _cleanup_close_ int lk = img_store_lock(s, LOCK_SH); /* not while rm/gc runs */
  if (lk < 0)
    return img_fail(err, lk, "locking the store: %s", strerror(-lk));
  _cleanup_close_ int dfd = sigdir(s, hex, true);
  if (dfd < 0)
    return img_fail(err, dfd, "image sha256:%s: signatures directory: %s", hex, strerror(-dfd));
  char id[256], file[IMG_HEX_LEN + 8];
  int n = snprintf(id, sizeof id, "%s\n%s\n%s\n%" PRIu64, st->keyid, st->name, st->channel, st->version);
  img_sha256_hex(id, (size_t)n, file);
  strcat(file, ".dsse");
  int r = write_at(dfd, file, envelope, strlen(envelope));
  if (r < 0)
    return img_fail(err, r, "storing the signature: %s", strerror(-r));
  /* the stored verdict no longer covers every signature: the next check
   * recomputes it, whatever policy it runs under */
  char v[128];
  snprintf(v, sizeof v, "images/%s/trust.verdict", hex);
  if (unlinkat(img_store_fd(s), v, 0) < 0 && errno != ENOENT)
    return img_fail(err, -errno, "removing the stale verdict: %s", strerror(errno));
  return 0;
}

int trust_store_each(struct img_store *s, const char *hex, trust_sig_fn fn, void *ctx) {
  _cleanup_close_ int dfd = sigdir(s, hex, false);
  if (dfd == -ENOENT)
    return 0;
  if (dfd < 0)
    return dfd;
  _cleanup_(closedirp) DIR *d = NULL;
  int r = img_opendir_at(dfd, ".", &d);
  if (r < 0)
    return r;
  /* sorted, so that every walk sees the same order */
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".dsse") || e->d_name[0] == '.')
      continue;
    char **nn = realloc(names, (n + 1) * sizeof *names);
    if (!nn || !(nn[n] = strdup(e->d_name))) {
      names = nn ? nn : names;
      r = -ENOMEM;
      break;
    }
    names = nn;
    n++;
  }
  if (r == 0)
    qsort(names, n, sizeof *names, (int (*)(const void *, const void *))strcmp);
  struct trust_dsse *env = r == 0 ? malloc(sizeof *env) : NULL;
  if (r == 0 && !env)
    r = -ENOMEM;
  for (size_t i = 0; r == 0 && i < n; i++) {
    _cleanup_free_ char *text = NULL;
    size_t len;
    struct img_err e2 = {0};
    struct trust_statement st;
    int rr = read_at(dfd, names[i], TRUST_DSSE_MAX_TEXT, &text, &len);
    if (rr < 0)
      r = fn(ctx, NULL, NULL, rr == -EFBIG ? "envelope too large" : strerror(-rr));
    else if (trust_dsse_decode(text, len, env, &e2) < 0)
      r = fn(ctx, NULL, NULL, e2.msg);
    else if (strcmp(env->payload_type, TRUST_PAYLOAD_TYPE))
      r = fn(ctx, env, NULL, "payloadType is not " TRUST_PAYLOAD_TYPE);
    else if (trust_statement_decode(env->payload, env->payload_len, &st, &e2) < 0)
      r = fn(ctx, env, NULL, e2.msg);
    else
      r = fn(ctx, env, &st, NULL);
  }
  free(env);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return r;
}

/* Marks ---------------------------------------------------------------- */

static int marks_dir(struct img_store *s) {
  int sfd = img_store_fd(s);
  if (mkdirat(sfd, "trust", 0700) < 0 && errno != EEXIST)
    return -errno;
  if (mkdirat(sfd, "trust/marks", 0700) < 0 && errno != EEXIST)
    return -errno;
  int fd = openat(sfd, "trust/marks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

static void mark_file(const char *kind, const char *name, const char *channel, char out[IMG_HEX_LEN + 1]) {
  char buf[IMG_MAX_NAME + TRUST_MAX_CHANNEL + 16];
  int n = snprintf(buf, sizeof buf, "%s%c%s%c%s", kind, 0, name, 0, channel);
  img_sha256_hex(buf, (size_t)n, out);
}

static int mark_read(int dfd, const char *file, uint64_t *ret) {
  char buf[32];
  _cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    *ret = 0;
    return 0;
  }
  if (fd < 0)
    return -errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0)
    return n < 0 ? -errno : -EINVAL;
  buf[n] = '\0';
  char *end;
  errno = 0;
  unsigned long long v = strtoull(buf, &end, 10);
  if (errno || end == buf || (*end && *end != '\n'))
    return -EINVAL;
  *ret = v;
  return 0;
}

int trust_mark_get(struct img_store *s, const char *kind, const char *name, const char *channel,
                   uint64_t *ret) {
  char file[IMG_HEX_LEN + 12];
  mark_file(kind, name, channel, file);
  char p[IMG_HEX_LEN + 32];
  snprintf(p, sizeof p, "trust/marks/%s", file);
  return mark_read(img_store_fd(s), p, ret);
}

int trust_mark_raise(struct img_store *s, const char *kind, const char *name, const char *channel,
                     uint64_t v) {
  _cleanup_close_ int dfd = marks_dir(s);
  if (dfd < 0)
    return dfd;
  _cleanup_close_ int lk = openat(dfd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lk < 0 || flock(lk, LOCK_EX) < 0)
    return -errno;
  char file[IMG_HEX_LEN + 1];
  uint64_t cur;
  mark_file(kind, name, channel, file);
  int r = mark_read(dfd, file, &cur);
  if (r < 0 && r != -EINVAL) /* a damaged mark is rewritten, never lowered below v */
    return r;
  if (r == 0 && cur >= v)
    return 0;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", v);
  return write_at(dfd, file, buf, (size_t)n);
}

/* Verdicts ------------------------------------------------------------- */

const char *trust_sig_status_name(enum trust_sig_status st) {
  switch (st) {
  case TRUST_SIG_OK: return "ok";
  case TRUST_SIG_UNKNOWN_KEY: return "unknown-key";
  case TRUST_SIG_REVOKED: return "revoked";
  case TRUST_SIG_BAD: return "bad-signature";
  case TRUST_SIG_OTHER_DIGEST: return "other-digest";
  }
  return "?";
}

static int status_parse(const char *s, enum trust_sig_status *ret) {
  for (int i = TRUST_SIG_OK; i <= TRUST_SIG_OTHER_DIGEST; i++)
    if (!strcmp(s, trust_sig_status_name((enum trust_sig_status)i))) {
      *ret = (enum trust_sig_status)i;
      return 0;
    }
  return -EINVAL;
}

struct compute_ctx {
  struct img_store *s;
  const struct trust_policy *p;
  const char *hex;
  struct trust_verdict *v;
};

static struct trust_claim *claim_for(struct trust_verdict *v, const struct trust_statement *st) {
  for (size_t i = 0; i < v->n_claims; i++) {
    struct trust_claim *c = &v->claims[i];
    if (c->version == st->version && !strcmp(c->name, st->name) && !strcmp(c->channel, st->channel))
      return c;
  }
  if (v->n_claims >= TRUST_MAX_CLAIMS)
    return NULL;
  struct trust_claim *c = &v->claims[v->n_claims++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", st->name);
  snprintf(c->channel, sizeof c->channel, "%s", st->channel);
  c->version = st->version;
  return c;
}

static void log_check(struct compute_ctx *x, const struct trust_statement *st, const char *keyid,
                      const char *result, const char *why) {
  json_object *f = json_object_new_object();
  char d[80];
  snprintf(d, sizeof d, "sha256:%s", x->hex);
  json_object_object_add(f, "image", json_object_new_string(d));
  if (st) {
    json_object_object_add(f, "name", json_object_new_string(st->name));
    json_object_object_add(f, "version", json_object_new_int64((int64_t)st->version));
    json_object_object_add(f, "channel", json_object_new_string(st->channel));
  }
  if (keyid)
    json_object_object_add(f, "keyid", json_object_new_string(keyid));
  json_object_object_add(f, "result", json_object_new_string(result));
  if (why)
    json_object_object_add(f, "detail", json_object_new_string(why));
  json_object_object_add(f, "policy", json_object_new_string(trust_policy_digest(x->p)));
  (void)trust_log(x->s, "check", f);
}

static int compute_one(void *ctx, const struct trust_dsse *env, const struct trust_statement *st,
                       const char *why) {
  struct compute_ctx *x = ctx;
  if (!st) {
    x->v->n_malformed++;
    log_check(x, NULL, NULL, "malformed", why);
    return 0;
  }
  enum trust_sig_status status;
  uint8_t pk[32];
  if (strcmp(st->digest, x->hex)) {
    status = TRUST_SIG_OTHER_DIGEST;
    x->v->n_other_digest++;
  } else if (trust_policy_revoked(x->p, st->keyid)) {
    status = TRUST_SIG_REVOKED;
  } else if (!trust_policy_key(x->p, st->keyid, pk)) {
    status = TRUST_SIG_UNKNOWN_KEY;
  } else {
    /* the envelope's signature by the statement's own key */
    status = TRUST_SIG_BAD;
    for (size_t i = 0; i < env->n_sigs; i++)
      if (!strcmp(env->sigs[i].keyid, st->keyid) && trust_dsse_verify(env, i, pk) == 0)
        status = TRUST_SIG_OK;
  }
  log_check(x, st, st->keyid, trust_sig_status_name(status), NULL);
  if (status == TRUST_SIG_OTHER_DIGEST)
    return 0;
  struct trust_claim *c = claim_for(x->v, st);
  if (!c || c->n_signers >= TRUST_MAX_SIGNERS)
    return 0; /* more than we track: ignored (logged above) */
  for (size_t i = 0; i < c->n_signers; i++)
    if (!strcmp(c->signers[i].keyid, st->keyid)) {
      /* one signer counts once: keep its best signature */
      if (status == TRUST_SIG_OK && (c->signers[i].status != TRUST_SIG_OK || st->expires > c->signers[i].expires)) {
        c->signers[i].status = status;
        c->signers[i].issued = st->issued;
        c->signers[i].expires = st->expires;
      }
      return 0;
    }
  struct trust_signer *g = &c->signers[c->n_signers++];
  snprintf(g->keyid, sizeof g->keyid, "%s", st->keyid);
  g->issued = st->issued;
  g->expires = st->expires;
  g->status = status;
  return 0;
}

static json_object *verdict_json(const struct trust_verdict *v, const char *hex) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "policy", json_object_new_string(v->policy));
  json_object_object_add(o, "digest", json_object_new_string(hex));
  json_object_object_add(o, "malformed", json_object_new_int64((int64_t)v->n_malformed));
  json_object_object_add(o, "other_digest", json_object_new_int64((int64_t)v->n_other_digest));
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < v->n_claims; i++) {
    const struct trust_claim *c = &v->claims[i];
    json_object *cj = json_object_new_object(), *sa = json_object_new_array();
    json_object_object_add(cj, "name", json_object_new_string(c->name));
    json_object_object_add(cj, "version", json_object_new_int64((int64_t)c->version));
    json_object_object_add(cj, "channel", json_object_new_string(c->channel));
    json_object_object_add(cj, "threshold", json_object_new_int(c->threshold));
    for (size_t j = 0; j < c->n_signers; j++) {
      const struct trust_signer *g = &c->signers[j];
      json_object *gj = json_object_new_object();
      json_object_object_add(gj, "keyid", json_object_new_string(g->keyid));
      json_object_object_add(gj, "issued", json_object_new_int64(g->issued));
      json_object_object_add(gj, "expires", json_object_new_int64(g->expires));
      json_object_object_add(gj, "status", json_object_new_string(trust_sig_status_name(g->status)));
      json_object_object_add(gj, "counts", json_object_new_boolean(g->counts));
      json_object_array_add(sa, gj);
    }
    json_object_object_add(cj, "signers", sa);
    json_object_array_add(a, cj);
  }
  json_object_object_add(o, "claims", a);
  return o;
}

static bool copy_str(json_object *o, const char *k, char *out, size_t n) {
  json_object *v = trust_json_get(o, k, json_type_string);
  if (!v || (size_t)json_object_get_string_len(v) >= n)
    return false;
  memcpy(out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
  return true;
}

/* Parse a stored verdict (written by us; checked all the same). */
static int verdict_parse(const char *text, size_t len, struct trust_verdict *v) {
  _cleanup_json_ json_object *o = NULL;
  if (trust_json_parse(text, len, &o) < 0)
    return -EINVAL;
  memset(v, 0, sizeof *v);
  json_object *a = trust_json_get(o, "claims", json_type_array);
  json_object *mf = trust_json_get(o, "malformed", json_type_int);
  json_object *od = trust_json_get(o, "other_digest", json_type_int);
  if (!copy_str(o, "policy", v->policy, sizeof v->policy) || !a || !mf || !od ||
      json_object_array_length(a) > TRUST_MAX_CLAIMS)
    return -EINVAL;
  v->n_malformed = (size_t)json_object_get_int64(mf);
  v->n_other_digest = (size_t)json_object_get_int64(od);
  for (size_t i = 0; i < json_object_array_length(a); i++) {
    json_object *cj = json_object_array_get_idx(a, i);
    struct trust_claim *c = &v->claims[i];
    json_object *ver = trust_json_get(cj, "version", json_type_int);
    json_object *th = trust_json_get(cj, "threshold", json_type_int);
    json_object *sa = trust_json_get(cj, "signers", json_type_array);
    if (!copy_str(cj, "name", c->name, sizeof c->name) || !copy_str(cj, "channel", c->channel, sizeof c->channel) ||
        !ver || !th || !sa || json_object_array_length(sa) > TRUST_MAX_SIGNERS)
      return -EINVAL;
    c->version = (uint64_t)json_object_get_int64(ver);
    c->threshold = (int)json_object_get_int64(th);
    for (size_t j = 0; j < json_object_array_length(sa); j++) {
      json_object *gj = json_object_array_get_idx(sa, j);
      struct trust_signer *g = &c->signers[j];
      char st[32];
      json_object *is = trust_json_get(gj, "issued", json_type_int);
      json_object *ex = trust_json_get(gj, "expires", json_type_int);
      json_object *cn = trust_json_get(gj, "counts", json_type_boolean);
      if (!copy_str(gj, "keyid", g->keyid, sizeof g->keyid) || !copy_str(gj, "status", st, sizeof st) ||
          status_parse(st, &g->status) < 0 || !is || !ex || !cn)
        return -EINVAL;
      g->issued = json_object_get_int64(is);
      g->expires = json_object_get_int64(ex);
      g->counts = json_object_get_boolean(cn);
    }
    c->n_signers = json_object_array_length(sa);
  }
  v->n_claims = json_object_array_length(a);
  return 0;
}

int trust_verdict_compute(struct img_store *s, const struct trust_policy *p, const char *hex,
                          struct trust_verdict *ret, struct img_err *err) {
  _cleanup_free_ struct trust_verdict *v = calloc(1, sizeof *v);
  if (!v)
    return -ENOMEM;
  snprintf(v->policy, sizeof v->policy, "%s", trust_policy_digest(p));
  struct compute_ctx x = {s, p, hex, v};
  int r = trust_store_each(s, hex, compute_one, &x);
  if (r < 0)
    return img_fail(err, r, "reading the signatures of sha256:%s: %s", hex, strerror(-r));
  for (size_t i = 0; i < v->n_claims; i++) {
    struct trust_claim *c = &v->claims[i];
    int counted = 0;
    if (!trust_policy_rule(p, c->name, c->channel, &c->threshold))
      c->threshold = 0;
    for (size_t j = 0; j < c->n_signers; j++) {
      struct trust_signer *g = &c->signers[j];
      g->counts = g->status == TRUST_SIG_OK && trust_policy_counts(p, c->name, c->channel, g->keyid);
      counted += g->counts;
    }
    if (c->threshold > 0 && counted >= c->threshold)
      (void)trust_mark_raise(s, "latest", c->name, c->channel, c->version);
  }
  _cleanup_json_ json_object *o = verdict_json(v, hex);
  _cleanup_free_ char *text = trust_json_text(o, false);
  char p2[128];
  snprintf(p2, sizeof p2, "images/%s", hex);
  _cleanup_close_ int dfd = openat(img_store_fd(s), p2, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (!text)
    return -ENOMEM;
  if (dfd < 0)
    return img_fail(err, -errno, "image sha256:%s: %s", hex, strerror(errno));
  r = write_at(dfd, "trust.verdict", text, strlen(text));
  if (r < 0)
    return img_fail(err, r, "storing the verdict of sha256:%s: %s", hex, strerror(-r));
  if (ret)
    memcpy(ret, v, sizeof *v);
  return 0;
}

int trust_verdict_get(struct img_store *s, const struct trust_policy *p, const char *hex,
                      struct trust_verdict *ret, struct img_err *err) {
  char path[128];
  snprintf(path, sizeof path, "images/%s/trust.verdict", hex);
  _cleanup_free_ char *text = NULL;
  size_t len;
  if (read_at(img_store_fd(s), path, VERDICT_MAX, &text, &len) == 0 && verdict_parse(text, len, ret) == 0 &&
      !strcmp(ret->policy, trust_policy_digest(p)))
    return 0;
  return trust_verdict_compute(s, p, hex, ret, err);
}

int trust_verdict_all(struct img_store *s, const struct trust_policy *p, struct img_err *err) {
  _cleanup_free_ struct img_entry *e = NULL;
  size_t n;
  int r = img_store_list(s, &e, &n);
  if (r < 0)
    return img_fail(err, r, "listing the store: %s", strerror(-r));
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    bool seen = false; /* an image with several names once */
    for (size_t j = 0; j < i && !seen; j++)
      seen = !strcmp(e[i].hex, e[j].hex);
    if (seen)
      continue;
    if ((r = trust_verdict_compute(s, p, e[i].hex, NULL, err)) < 0)
      return r;
    count++;
  }
  return count;
}
