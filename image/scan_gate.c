/* Stored scan results and the launch policy's "scan" section (see scan_gate.h). */
#include "image/scan_gate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/internal.h"

#define SCANS_DIR "scans"
#define NAMED_MAX 5 /* findings named in a refusal */

static const char *const sev_names[] = {"unknown", "unimportant", "low", "medium", "high"};

static int sev_rank(const char *s) {
  for (int i = 0; i < 5; i++)
    if (!strcmp(s, sev_names[i]))
      return i;
  return -1;
}

int scan_gate_parse_duration(const char *s, int64_t *ret) {
  char *end;
  if (!s || !*s || *s < '0' || *s > '9')
    return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  int64_t mul = 1;
  if (*end == 'm')
    mul = 60;
  else if (*end == 'h')
    mul = 3600;
  else if (*end == 'd')
    mul = 86400;
  else if (*end == 's' || *end == '\0')
    mul = 1;
  else
    return -EINVAL;
  if (*end && end[1])
    return -EINVAL;
  if (errno || v == 0 || v > (unsigned long long)(INT64_MAX / mul))
    return -EINVAL;
  *ret = (int64_t)v * mul;
  return 0;
}

bool scan_gate_active(const struct scan_gate *g) { return g->refuse_rank > 0 || g->max_age > 0; }

int scan_gate_parse(json_object *scan, struct scan_gate *ret, struct img_err *err) {
  struct scan_gate g = {0};
  if (!scan || json_object_is_type(scan, json_type_null)) {
    *ret = g;
    return 0;
  }
  if (!json_object_is_type(scan, json_type_object))
    return img_fail(err, -EINVAL, "policy: \"scan\" is not an object");
  json_object_object_foreach(scan, key, val) {
    if (!strcmp(key, "refuse_fixable_at")) {
      if (json_object_is_type(val, json_type_null))
        continue;
      int r = json_object_is_type(val, json_type_string) ? sev_rank(json_object_get_string(val)) : -1;
      if (r < 1)
        return img_fail(err, -EINVAL,
                        "policy: scan.refuse_fixable_at must be high, medium, low or unimportant");
      g.refuse_rank = r;
    } else if (!strcmp(key, "max_scan_age")) {
      if (json_object_is_type(val, json_type_null))
        continue;
      if (json_object_is_type(val, json_type_int)) {
        g.max_age = json_object_get_int64(val);
        if (g.max_age <= 0)
          return img_fail(err, -EINVAL, "policy: scan.max_scan_age must be positive");
      } else if (!json_object_is_type(val, json_type_string) ||
                 scan_gate_parse_duration(json_object_get_string(val), &g.max_age) < 0) {
        return img_fail(err, -EINVAL,
                        "policy: scan.max_scan_age must be a duration such as \"7d\", \"12h\", "
                        "\"30m\" or a number of seconds");
      }
    } else {
      return img_fail(err, -EINVAL,
                      "policy: unknown key scan.%.64s (refuse_fixable_at, max_scan_age)", key);
    }
  }
  *ret = g;
  return 0;
}

const char *scan_policy_path(const char *opt, bool *ret_explicit) {
  const char *e = getenv(SCAN_POLICY_ENV);
  *ret_explicit = (opt && *opt) || (e && *e);
  return opt && *opt ? opt : e && *e ? e : SCAN_POLICY_DEFAULT;
}

/* Read a regular file of at most max bytes (NUL-terminated). */
static int read_small(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
                      struct stat *ret_st, struct img_err *err) {
  _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return errno == ENOENT ? -ENOENT : img_fail(err, -errno, "%s: %s", path, strerror(errno));
  struct stat st;
  int r = img_fstat_regular(fd, path, max, &st, err);
  if (r < 0)
    return r;
  if (ret_st)
    *ret_st = st;
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return img_fail(err, -ENOMEM, "out of memory");
  long got = sd_read_full(fd, buf, (size_t)st.st_size);
  if (got < (long)st.st_size) {
    free(buf);
    return img_fail(err, got < 0 ? (int)got : -EIO, "%s: short read", path);
  }
  buf[got] = '\0';
  *ret = buf;
  *ret_len = (size_t)got;
  return 0;
}

/* Parse buf as one JSON object (strict, nothing after it). */
static int parse_object(const char *what, const char *buf, size_t len, json_object **ret,
                        struct img_err *err, int bad) {
  json_tokener *tok = json_tokener_new_ex(32);
  if (!tok)
    return img_fail(err, -ENOMEM, "out of memory");
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
  enum json_tokener_error e = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  while (end < len && strchr(" \t\r\n", buf[end]))
    end++;
  if (!o || e != json_tokener_success || end != len) {
    json_object_put(o);
    return img_fail(err, bad, "%s: not valid JSON (%s)", what,
                    e == json_tokener_success ? "data after the value"
                    : e == json_tokener_continue ? "truncated"
                                                 : json_tokener_error_desc(e));
  }
  if (!json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return img_fail(err, bad, "%s: not a JSON object", what);
  }
  *ret = o;
  return 0;
}

int scan_policy_read(const char *path, json_object **ret_root, struct img_err *err) {
  _cleanup_free_ char *buf = NULL;
  size_t len;
  struct stat st;
  int r = read_small(AT_FDCWD, path, SCAN_POLICY_MAX, &buf, &len, &st, err);
  if (r < 0)
    return r;
  /* whoever may write the policy may switch the gate off: root's (or ours) only */
  if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022))
    return img_fail(err, -EPERM,
                    "%s: the policy must belong to root (or to us) and not be writable by group "
                    "or others", path);
  return parse_object(path, buf, len, ret_root, err, -EINVAL);
}

int scan_write_file_at(int dirfd, const char *name, const char *data, size_t len, int mode,
                       struct img_err *err) {
  char tmp[320];
  if (snprintf(tmp, sizeof tmp, ".%s.%d.tmp", name, (int)getpid()) >= (int)sizeof tmp)
    return img_fail(err, -ENAMETOOLONG, "name too long: %s", name);
  unlinkat(dirfd, tmp, 0);
  _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                                  (mode_t)mode);
  if (fd < 0)
    return img_fail(err, -errno, "create %s: %s", tmp, strerror(errno));
  int r = sd_write_all(fd, data, len);
  if (r == 0 && fchmod(fd, (mode_t)mode) < 0)
    r = -errno;
  if (r == 0 && fsync(fd) < 0)
    r = -errno;
  if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
    r = -errno;
  if (r < 0) {
    unlinkat(dirfd, tmp, 0);
    return img_fail(err, r, "writing %s: %s", name, strerror(-r));
  }
  fsync(dirfd);
  return 0;
}

static int scans_dir(struct img_store *s, bool create) {
  if (create && mkdirat(img_store_fd(s), SCANS_DIR, 0700) < 0 && errno != EEXIST)
    return -errno;
  int d = openat(img_store_fd(s), SCANS_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return d < 0 ? -errno : d;
}

static bool hex_ok(const char *hex) {
  if (strlen(hex) != IMG_HEX_LEN)
    return false;
  for (const char *p = hex; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

int scan_store_save(struct img_store *s, const char *hex,
                    void (*write_members)(struct jstream *w, const void *ctx), const void *ctx,
                    int64_t now, struct img_err *err) {
  if (!hex_ok(hex))
    return img_fail(err, -EINVAL, "not an image digest");
  char digest[IMG_HEX_LEN + 8], name[IMG_HEX_LEN + 8];
  snprintf(digest, sizeof digest, "sha256:%s", hex);
  snprintf(name, sizeof name, "%s.json", hex);
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return img_fail(err, -ENOMEM, "the stored scan: %s", strerror(ENOMEM));
  struct jstream w;
  jstream_init(&w, f, JSTREAM_ESCAPE_SLASH); /* json-c's plain layout */
  jstream_begin_object(&w);
  write_members(&w, ctx);
  jstream_kv_string(&w, "digest", digest);
  jstream_kv_int(&w, "scanned_at", now);
  jstream_end_object(&w);
  bool bad = ferror(f);
  if (fclose(f) == EOF || bad)
    return img_fail(err, -ENOMEM, "the stored scan: %s", strerror(ENOMEM));
  _cleanup_close_ int d = scans_dir(s, true);
  if (d < 0)
    return img_fail(err, d, "%s/" SCANS_DIR ": %s", img_store_dir(s), strerror(-d));
  return scan_write_file_at(d, name, text, len, 0600, err);
}

int scan_store_prune(struct img_store *s) {
  _cleanup_close_ int d = scans_dir(s, false);
  if (d == -ENOENT)
    return 0;
  if (d < 0)
    return d;
  DIR *dir = NULL;
  int r = img_opendir_at(d, ".", &dir);
  if (r < 0)
    return r;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dir))) {
    char hex[IMG_HEX_LEN + 1], p[IMG_HEX_LEN + 16];
    size_t len = strlen(de->d_name);
    if (len != IMG_HEX_LEN + 5 || strcmp(de->d_name + IMG_HEX_LEN, ".json"))
      continue;
    memcpy(hex, de->d_name, IMG_HEX_LEN);
    hex[IMG_HEX_LEN] = '\0';
    if (!hex_ok(hex))
      continue;
    snprintf(p, sizeof p, "images/%s", hex);
    struct stat st;
    if (fstatat(img_store_fd(s), p, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
        unlinkat(d, de->d_name, 0) == 0)
      n++;
  }
  closedir(dir);
  return n;
}

int scan_store_load(struct img_store *s, const char *hex, json_object **ret, struct img_err *err) {
  if (!hex_ok(hex))
    return img_fail(err, -EINVAL, "not an image digest");
  char name[IMG_HEX_LEN + 8], digest[IMG_HEX_LEN + 8];
  snprintf(name, sizeof name, "%s.json", hex);
  snprintf(digest, sizeof digest, "sha256:%s", hex);
  _cleanup_close_ int d = scans_dir(s, false);
  if (d == -ENOENT)
    return -ENOENT;
  if (d < 0)
    return img_fail(err, d, "%s/" SCANS_DIR ": %s", img_store_dir(s), strerror(-d));
  _cleanup_free_ char *buf = NULL;
  size_t len;
  int r = read_small(d, name, SCAN_STORED_MAX, &buf, &len, NULL, err);
  if (r < 0)
    return r;
  json_object *o, *v, *f;
  if ((r = parse_object("the stored scan", buf, len, &o, err, -EBADMSG)) < 0)
    return r;
  if (!json_object_object_get_ex(o, "digest", &v) || !json_object_is_type(v, json_type_string) ||
      strcmp(json_object_get_string(v), digest) ||
      !json_object_object_get_ex(o, "scanned_at", &v) || !json_object_is_type(v, json_type_int) ||
      !json_object_object_get_ex(o, "findings", &f) || !json_object_is_type(f, json_type_array)) {
    json_object_put(o);
    return img_fail(err, -EBADMSG, "the stored scan of sha256:%.12s is damaged: scan it again",
                    hex);
  }
  *ret = o;
  return 0;
}

static const char *str_of(json_object *o, const char *key) {
  json_object *v;
  return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
             ? json_object_get_string(v)
             : NULL;
}

static void fmt_age(int64_t s, char out[32]) {
  if (s >= 86400 * 2)
    snprintf(out, 32, "%" PRId64 " days", s / 86400);
  else if (s >= 3600 * 2)
    snprintf(out, 32, "%" PRId64 " hours", s / 3600);
  else
    snprintf(out, 32, "%" PRId64 " seconds", s);
}

int scan_gate_check(const struct scan_gate *g, struct img_store *s, const char *hex, int64_t now,
                    struct img_err *err) {
  if (!scan_gate_active(g))
    return 0;
  json_object *o = NULL, *v, *fs;
  int r = scan_store_load(s, hex, &o, err);
  if (r == -ENOENT)
    return img_fail(err, -EACCES,
                    "refused by the scan policy: image sha256:%.12s has never been scanned "
                    "(secret-image scan REF)", hex);
  if (r < 0)
    return r;
  json_object_object_get_ex(o, "scanned_at", &v);
  int64_t at = json_object_get_int64(v), age = now > at ? now - at : 0;
  if (g->max_age && age > g->max_age) {
    char a[32], l[32];
    fmt_age(age, a);
    fmt_age(g->max_age, l);
    json_object_put(o);
    return img_fail(err, -EACCES,
                    "refused by the scan policy: the last scan of image sha256:%.12s is %s old "
                    "(limit %s): scan it again", hex, a, l);
  }
  if (g->refuse_rank) {
    json_object_object_get_ex(o, "findings", &fs);
    char named[360] = "";
    size_t n = 0, len = 0;
    for (size_t i = 0; i < json_object_array_length(fs); i++) {
      json_object *f = json_object_array_get_idx(fs, i);
      const char *cat = str_of(f, "category"), *sev = str_of(f, "severity"),
                 *issue = str_of(f, "issue"), *pkg = str_of(f, "package"),
                 *fixed = str_of(f, "fixed_version");
      if (!cat || !sev || strcmp(cat, "fixable") || sev_rank(sev) < g->refuse_rank)
        continue;
      if (++n <= NAMED_MAX && len < sizeof named) {
        int w = snprintf(named + len, sizeof named - len, "%s%s %s in %s (fixed in %s)",
                         n > 1 ? "; " : "", sev, issue ? issue : "?", pkg ? pkg : "?",
                         fixed ? fixed : "?");
        len = w < 0 ? len : len + (size_t)w;
      }
    }
    if (n) {
      json_object_put(o);
      return img_fail(err, -EACCES,
                      "refused by the scan policy: image sha256:%.12s has %zu fixable "
                      "finding(s) at or above %s: %s%s", hex, n, sev_names[g->refuse_rank], named,
                      n > NAMED_MAX ? "; ..." : "");
    }
  }
  json_object_put(o);
  return 0;
}

int scan_gate_check_root(json_object *policy_root, struct img_store *s, const char *hex,
                         int64_t now, struct img_err *err) {
  json_object *scan = NULL;
  struct scan_gate g;
  if (policy_root)
    json_object_object_get_ex(policy_root, "scan", &scan);
  int r = scan_gate_parse(scan, &g, err);
  return r < 0 ? r : scan_gate_check(&g, s, hex, now, err);
}

int scan_gate_check_policy(const char *opt, struct img_store *s, const char *hex,
                           struct img_err *err) {
  bool named;
  const char *path = scan_policy_path(opt, &named);
  json_object *root = NULL;
  int r = scan_policy_read(path, &root, err);
  if (r == -ENOENT && !named)
    return 0; /* no policy file: nothing to enforce */
  if (r == -ENOENT)
    return img_fail(err, -ENOENT, "policy %s: no such file", path);
  if (r < 0)
    return r;
  r = scan_gate_check_root(root, s, hex, (int64_t)time(NULL), err);
  if (r < 0 && r != -EACCES)
    img_err_prefix(err, "policy %s: ", path);
  json_object_put(root);
  return r;
}
