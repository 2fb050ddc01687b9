/* Task records (see record.h), JSON through json-c. */
#include "agent/core/record.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"

static void hex(const uint8_t *b, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[b[i] >> 4];
    out[2 * i + 1] = d[b[i] & 15];
  }
  out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *b, size_t n) {
  if (strlen(s) != 2 * n)
    return -EBADMSG;
  for (size_t i = 0; i < 2 * n; i++) {
    int v = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : -1;
    if (v < 0)
      return -EBADMSG;
    b[i / 2] = (uint8_t)(i % 2 ? (b[i / 2] | v) : v << 4);
  }
  return 0;
}

int ac_record_write(int dir_fd, const char *name, const struct ac_record *rec) {
  char digest[2 * AC_DIGEST_LEN + 1], tmp[96], path[96];
  json_object *o = json_object_new_object(), *files = json_object_new_array();
  int r = 0;

  if (!o || !files) {
    json_object_put(o);
    json_object_put(files);
    return -ENOMEM;
  }
  hex(rec->digest, AC_DIGEST_LEN, digest);
  json_object_object_add(o, "task", json_object_new_string(rec->task_id));
  json_object_object_add(o, "service", json_object_new_string(rec->service ? rec->service : ""));
  json_object_object_add(o, "digest", json_object_new_string(digest));
  json_object_object_add(o, "running", json_object_new_boolean(rec->running));
  json_object_object_add(o, "done", json_object_new_boolean(rec->done));
  json_object_object_add(o, "restarts", json_object_new_int64(rec->restarts));
  json_object_object_add(o, "exitCode", json_object_new_int(rec->exit_code));
  json_object_object_add(o, "restart", json_object_new_int(rec->restart));
  json_object_object_add(o, "stopTimeoutMs", json_object_new_int64(rec->stop_timeout_ms));
  for (size_t i = 0; i < rec->n_files; i++) {
    const struct ac_file *f = &rec->files[i];
    json_object *e = json_object_new_object();
    json_object_object_add(e, "secret", json_object_new_string(f->secret));
    json_object_object_add(e, "version", json_object_new_uint64(f->version));
    json_object_object_add(e, "target", json_object_new_string(f->target));
    json_object_object_add(e, "uid", json_object_new_int64(f->uid));
    json_object_object_add(e, "gid", json_object_new_int64(f->gid));
    json_object_object_add(e, "mode", json_object_new_int64(f->mode));
    json_object_array_add(files, e);
  }
  json_object_object_add(o, "files", files);
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
  snprintf(tmp, sizeof tmp, ".%s.json.tmp", name);
  snprintf(path, sizeof path, "%s.json", name);
  int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    r = -errno;
  } else {
    size_t len = strlen(text), off = 0;
    while (off < len && r == 0) {
      ssize_t k = write(fd, text + off, len - off);
      if (k < 0 && errno != EINTR)
        r = -errno;
      else if (k > 0)
        off += (size_t)k;
    }
    close(fd);
    if (r == 0 && renameat(dir_fd, tmp, dir_fd, path) < 0)
      r = -errno;
    if (r < 0)
      unlinkat(dir_fd, tmp, 0);
  }
  json_object_put(o);
  return r;
}

static const char *get_str(json_object *o, const char *k) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

static bool get_int(json_object *o, const char *k, int64_t min, int64_t max, int64_t *ret) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
    return false;
  errno = 0;
  int64_t x = json_object_get_int64(v);
  if (errno || x < min || x > max)
    return false;
  *ret = x;
  return true;
}

static bool get_bool(json_object *o, const char *k, bool *ret) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_boolean))
    return false;
  *ret = json_object_get_boolean(v);
  return true;
}

void ac_record_clear(struct ac_record *rec) {
  if (!rec)
    return;
  free(rec->task_id);
  free(rec->service);
  for (size_t i = 0; i < rec->n_files; i++) {
    free((char *)rec->files[i].secret);
    free((char *)rec->files[i].target);
  }
  free(rec->files);
  memset(rec, 0, sizeof *rec);
}

int ac_record_parse(const char *buf, size_t len, struct ac_record *ret) {
  struct ac_record rec = {0};
  json_tokener *tok = json_tokener_new();
  json_object *o = NULL, *files;
  const char *s;
  int64_t n;
  int r = -EBADMSG;

  memset(ret, 0, sizeof *ret);
  if (!tok)
    return -ENOMEM;
  if (len > AC_RECORD_MAX_BYTES || len > INT32_MAX)
    goto out;
  o = json_tokener_parse_ex(tok, buf, (int)len);
  if (!o || json_tokener_get_error(tok) != json_tokener_success ||
      json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))
    goto out;
  if (!(s = get_str(o, "task")) || !*s || !(rec.task_id = strdup(s)))
    goto out;
  if (!(s = get_str(o, "service")) || !(rec.service = strdup(s)))
    goto out;
  if (!(s = get_str(o, "digest")) || unhex(s, rec.digest, AC_DIGEST_LEN) < 0)
    goto out;
  if (!get_bool(o, "running", &rec.running) || !get_bool(o, "done", &rec.done))
    goto out;
  if (!get_int(o, "restarts", 0, UINT32_MAX, &n))
    goto out;
  rec.restarts = (unsigned)n;
  if (!get_int(o, "exitCode", -1, 255, &n))
    goto out;
  rec.exit_code = (int)n;
  if (!get_int(o, "restart", LAUNCH_RESTART_NO, LAUNCH_RESTART_ALWAYS, &n))
    goto out;
  rec.restart = (enum launch_restart)n;
  if (!get_int(o, "stopTimeoutMs", 0, 86400000, &n))
    goto out;
  rec.stop_timeout_ms = (unsigned)n;
  if (!json_object_object_get_ex(o, "files", &files) ||
      !json_object_is_type(files, json_type_array))
    goto out;
  size_t nf = json_object_array_length(files);
  if (nf > 4096)
    goto out;
  if (nf && !(rec.files = calloc(nf, sizeof *rec.files))) {
    r = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < nf; i++) {
    json_object *e = json_object_array_get_idx(files, i);
    struct ac_file *f = &rec.files[i];
    int64_t v, u, g, m;
    const char *sec, *tgt;
    if (!json_object_is_type(e, json_type_object) || !(sec = get_str(e, "secret")) ||
        !(tgt = get_str(e, "target")) || !*sec || !*tgt ||
        !get_int(e, "version", 0, INT64_MAX, &v) || !get_int(e, "uid", 0, UINT32_MAX - 1, &u) ||
        !get_int(e, "gid", 0, UINT32_MAX - 1, &g) || !get_int(e, "mode", 0, 0777, &m))
      goto out;
    if (!(f->secret = strdup(sec)) || !(f->target = strdup(tgt))) {
      r = -ENOMEM;
      rec.n_files = i + 1;
      goto out;
    }
    rec.n_files = i + 1;
    f->version = (uint64_t)v;
    f->uid = (uint32_t)u;
    f->gid = (uint32_t)g;
    f->mode = (uint32_t)m;
  }
  *ret = rec;
  memset(&rec, 0, sizeof rec);
  r = 0;
out:
  ac_record_clear(&rec);
  json_object_put(o);
  json_tokener_free(tok);
  return r;
}

int ac_record_read(int dir_fd, const char *name, struct ac_record *ret) {
  char path[96];
  struct stat st;
  snprintf(path, sizeof path, "%s.json", name);
  _cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (!S_ISREG(st.st_mode) || st.st_size > AC_RECORD_MAX_BYTES)
    return -EBADMSG;
  _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return -ENOMEM;
  size_t off = 0;
  while (off < (size_t)st.st_size) {
    ssize_t k = read(fd, buf + off, (size_t)st.st_size - off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    off += (size_t)k;
  }
  return ac_record_parse(buf, off, ret);
}
