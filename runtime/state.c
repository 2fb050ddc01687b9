/*
 * State directories of detached containers (see runtime/state.h).
 *
 * Why this is safe: the root is checked to be root-owned and 0700 before use, so no
 * other user can plant a directory, a state file or a socket in it; every file is
 * opened relative to the directory fd with O_NOFOLLOW; the JSON is bounded in size and
 * every field is type- and range-checked, so a corrupted file is refused, never trusted
 * partially. Nothing here decides on a pid alone: adoption (runtime/adopt.c) checks
 * the recorded start time and cgroup.
 */
#include "runtime/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"

bool rt_name_valid(const char *n) {
  size_t len = n ? strnlen(n, RT_NAME_MAX + 1) : 0;
  if (len == 0 || len > RT_NAME_MAX || n[0] == '.' || n[0] == '-')
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = n[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

const char *rt_status_name(enum rt_status s) {
  switch (s) {
  case RT_STATUS_CREATED: return "created";
  case RT_STATUS_RUNNING: return "running";
  case RT_STATUS_STOPPED: return "stopped";
  }
  return "unknown";
}

int rt_proc_start_time(pid_t pid, uint64_t *ret) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? -ESRCH : -errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0)
    return n < 0 ? -errno : -ESRCH;
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
  if (!p)
    return -EBADMSG;
  /* after ") " comes field 3 (state); start time is field 22 */
  p++;
  for (int field = 3; field <= 22; field++) {
    while (*p == ' ')
      p++;
    if (!*p)
      return -EBADMSG;
    if (field == 22) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(p, &end, 10);
      if (errno || end == p)
        return -EBADMSG;
      *ret = v;
      return 0;
    }
    p = strchr(p, ' ');
    if (!p)
      return -EBADMSG;
  }
  return -EBADMSG;
}

static int check_dir(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (!S_ISDIR(st.st_mode))
    return -ENOTDIR;
  if (st.st_uid != 0 || (st.st_mode & 077))
    return -EPERM;
  return 0;
}

int rt_state_root_open(const char *root, int *ret_fd) {
  char buf[4096];
  size_t len = root ? strlen(root) : 0;
  if (len == 0 || len >= sizeof buf || root[0] != '/')
    return -EINVAL;
  /* Create missing parents 0755 (/run/secretd) and the root itself 0700. */
  memcpy(buf, root, len + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(root, 0700) < 0 && errno != EEXIST)
    return -errno;
  _cleanup_close_ int fd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int r = check_dir(fd);
  if (r < 0)
    return r;
  *ret_fd = TAKE_FD(fd);
  return 0;
}

int rt_state_create(int root_fd, const char *name, int *ret_fd) {
  if (!rt_name_valid(name))
    return -EINVAL;
  if (mkdirat(root_fd, name, 0700) < 0)
    return -errno;
  int fd = openat(root_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  *ret_fd = fd;
  return 0;
}

int rt_state_open(int root_fd, const char *name, int *ret_fd) {
  if (!rt_name_valid(name))
    return -EINVAL;
  _cleanup_close_ int fd = openat(root_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int r = check_dir(fd);
  if (r < 0)
    return r;
  *ret_fd = TAKE_FD(fd);
  return 0;
}

int rt_state_write(int dir_fd, const struct rt_state *st) {
  json_object *o = json_object_new_object();
  if (!o)
    return -ENOMEM;
  json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
  json_object_object_add(o, "id", json_object_new_string(st->id));
  json_object_object_add(o, "status", json_object_new_string(rt_status_name(st->status)));
  json_object_object_add(o, "pid", json_object_new_int64(st->pid));
  json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
  json_object_object_add(o, "created", json_object_new_string(st->created));
  json_object_object_add(o, "startTime", json_object_new_uint64(st->start_time));
  json_object_object_add(o, "cgroup", json_object_new_string(st->cgroup));
  json_object_object_add(o, "supervisor", json_object_new_int64(st->supervisor));
  json_object_object_add(o, "supervisorStartTime", json_object_new_uint64(st->supervisor_start));
  json_object_object_add(o, "secretsMax", json_object_new_uint64(st->secrets_max));
  for (int k = 0; k < 2; k++) {
    const struct rt_idmap *m = k ? st->gidmap : st->uidmap;
    size_t n = k ? st->n_gidmap : st->n_uidmap;
    if (n == 0)
      continue;
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n && i < RT_MAX_IDMAPS; i++) {
      json_object *e = json_object_new_array();
      json_object_array_add(e, json_object_new_int64(m[i].inside));
      json_object_array_add(e, json_object_new_int64(m[i].outside));
      json_object_array_add(e, json_object_new_int64(m[i].count));
      json_object_array_add(arr, e);
    }
    json_object_object_add(o, k ? "gidMap" : "uidMap", arr);
  }
  if (st->exited) {
    json_object_object_add(o, "exitCode", json_object_new_int(st->exit_code));
    json_object_object_add(o, "exitSignal", json_object_new_int(st->exit_signal));
    json_object_object_add(o, "oomKilled", json_object_new_boolean(st->oom_killed));
  }
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
  char tmp[64];
  snprintf(tmp, sizeof tmp, ".state.%d.tmp", (int)getpid());
  int r = 0;
  int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    r = -errno;
  if (r == 0) {
    r = sd_write_all(fd, text, strlen(text));
    if (r == 0)
      r = sd_write_all(fd, "\n", 1);
    close(fd);
    if (r == 0 && renameat(dir_fd, tmp, dir_fd, "state.json") < 0)
      r = -errno;
    if (r < 0)
      unlinkat(dir_fd, tmp, 0);
  }
  json_object_put(o);
  return r;
}

static int get_str(json_object *o, const char *key, char *buf, size_t size, bool required) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v))
    return required ? -EBADMSG : 0;
  if (!json_object_is_type(v, json_type_string))
    return -EBADMSG;
  const char *s = json_object_get_string(v);
  size_t len = (size_t)json_object_get_string_len(v);
  if (len >= size || strlen(s) != len)
    return -EBADMSG;
  memcpy(buf, s, len + 1);
  return 0;
}

static int get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret, bool required) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v))
    return required ? -EBADMSG : 0;
  if (!json_object_is_type(v, json_type_int))
    return -EBADMSG;
  errno = 0;
  int64_t x = json_object_get_int64(v);
  if (errno || x < 0 || (uint64_t)x > max)
    return -EBADMSG;
  *ret = (uint64_t)x;
  return 0;
}

/* [[inside, outside, count], ...]: 1..RT_MAX_IDMAPS entries of 32-bit ids, count >= 1,
 * no range past 2^32. Absent: n = 0. */
static int get_idmap(json_object *o, const char *key, struct rt_idmap *m, size_t *ret_n) {
  json_object *arr;
  *ret_n = 0;
  if (!json_object_object_get_ex(o, key, &arr))
    return 0;
  if (!json_object_is_type(arr, json_type_array))
    return -EBADMSG;
  size_t n = json_object_array_length(arr);
  if (n == 0 || n > RT_MAX_IDMAPS)
    return -EBADMSG;
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    uint64_t v[3];
    if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 3)
      return -EBADMSG;
    for (size_t j = 0; j < 3; j++) {
      json_object *x = json_object_array_get_idx(e, j);
      if (!json_object_is_type(x, json_type_int))
        return -EBADMSG;
      errno = 0;
      int64_t y = json_object_get_int64(x);
      if (errno || y < 0 || y > (int64_t)UINT32_MAX)
        return -EBADMSG;
      v[j] = (uint64_t)y;
    }
    if (v[2] == 0 || v[0] + v[2] > ((uint64_t)1 << 32) || v[1] + v[2] > ((uint64_t)1 << 32))
      return -EBADMSG;
    m[i] = (struct rt_idmap){(uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2]};
  }
  *ret_n = n;
  return 0;
}

int rt_state_parse(const char *buf, size_t len, struct rt_state *ret) {
  struct rt_state st = {0};
  char status[16] = "";
  uint64_t v;
  int r = -EBADMSG;

  if (len > RT_STATE_MAX_BYTES || len > INT32_MAX)
    return -EBADMSG;
  json_tokener *tok = json_tokener_new_ex(16);
  if (!tok)
    return -ENOMEM;
  json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
  bool complete = o && json_tokener_get_error(tok) == json_tokener_success;
  json_tokener_free(tok);
  if (!complete || !json_object_is_type(o, json_type_object))
    goto out;
  if (get_str(o, "id", st.id, sizeof st.id, true) < 0 || !rt_name_valid(st.id) ||
      get_str(o, "status", status, sizeof status, true) < 0 ||
      get_str(o, "bundle", st.bundle, sizeof st.bundle, true) < 0 ||
      get_str(o, "created", st.created, sizeof st.created, false) < 0 ||
      get_str(o, "cgroup", st.cgroup, sizeof st.cgroup, true) < 0)
    goto out;
  if (strcmp(status, "created") == 0)
    st.status = RT_STATUS_CREATED;
  else if (strcmp(status, "running") == 0)
    st.status = RT_STATUS_RUNNING;
  else if (strcmp(status, "stopped") == 0)
    st.status = RT_STATUS_STOPPED;
  else
    goto out;
  if (get_u64(o, "pid", INT32_MAX, &v, true) < 0)
    goto out;
  st.pid = (pid_t)v;
  v = 0;
  if (get_u64(o, "supervisor", INT32_MAX, &v, true) < 0)
    goto out;
  st.supervisor = (pid_t)v;
  if (get_u64(o, "startTime", UINT64_MAX >> 1, &st.start_time, true) < 0 ||
      get_u64(o, "supervisorStartTime", UINT64_MAX >> 1, &st.supervisor_start, true) < 0 ||
      get_u64(o, "secretsMax", (uint64_t)1 << 30, &st.secrets_max, false) < 0)
    goto out;
  if (get_idmap(o, "uidMap", st.uidmap, &st.n_uidmap) < 0 ||
      get_idmap(o, "gidMap", st.gidmap, &st.n_gidmap) < 0)
    goto out;
  json_object *x;
  if (json_object_object_get_ex(o, "exitCode", &x)) {
    uint64_t code = 0, sig = 0;
    if (get_u64(o, "exitCode", 255, &code, true) < 0 ||
        get_u64(o, "exitSignal", 64, &sig, true) < 0 ||
        !json_object_object_get_ex(o, "oomKilled", &x) ||
        !json_object_is_type(x, json_type_boolean))
      goto out;
    st.exited = true;
    st.exit_code = (int)code;
    st.exit_signal = (int)sig;
    st.oom_killed = json_object_get_boolean(x);
  }
  *ret = st;
  r = 0;
out:
  json_object_put(o);
  return r;
}

int rt_state_read(int dir_fd, struct rt_state *ret) {
  char buf[RT_STATE_MAX_BYTES + 1];
  _cleanup_close_ int fd = openat(dir_fd, "state.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    len += (size_t)n;
    if (len == sizeof buf)
      return -EBADMSG;
  }
  return rt_state_parse(buf, len, ret);
}

int rt_state_remove(int root_fd, const char *name) {
  if (!rt_name_valid(name))
    return -EINVAL;
  _cleanup_close_ int dfd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return -errno;
  DIR *d = fdopendir(dfd);
  if (!d)
    return -errno;
  dfd = -1; /* owned by d */
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      unlinkat(dirfd(d), e->d_name, 0);
  closedir(d);
  if (unlinkat(root_fd, name, AT_REMOVEDIR) < 0)
    return -errno;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void rt_state_names_free(char **names) {
  if (!names)
    return;
  for (char **p = names; *p; p++)
    free(*p);
  free(names);
}

int rt_state_list(int root_fd, char ***ret_names) {
  int dfd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -errno;
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return -errno;
  }
  size_t n = 0, cap = 8;
  char **names = calloc(cap + 1, sizeof *names);
  int r = 0;
  struct dirent *e;
  while (names && (e = readdir(d))) {
    if (!rt_name_valid(e->d_name) || e->d_type != DT_DIR)
      continue;
    if (n == cap) {
      char **nn = realloc(names, (cap * 2 + 1) * sizeof *nn);
      if (!nn) {
        r = -ENOMEM;
        break;
      }
      names = nn;
      cap *= 2;
    }
    if (!(names[n] = strdup(e->d_name))) {
      r = -ENOMEM;
      break;
    }
    names[++n] = NULL;
  }
  closedir(d);
  if (!names)
    return -ENOMEM;
  if (r < 0) {
    rt_state_names_free(names);
    return r;
  }
  names[n] = NULL;
  qsort(names, n, sizeof *names, cmp_str);
  *ret_names = names;
  return 0;
}
