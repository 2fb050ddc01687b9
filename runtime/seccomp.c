/*
 * Compiling (parent) and loading (child) the container's seccomp filter.
 *
 * Sources of a filter, fastest first:
 *  1. the built-in default for a capability set whose rule selection equals the one the
 *     build-time generator used (Docker's default set): a static BPF array, no work;
 *  2. the on-disk cache, RT_SECCOMP_CACHE_DIR: one file per (profile bytes, caps,
 *     native arch, libseccomp version, kernel release). The file holds the full key, which
 *     is compared byte for byte, so a hash collision can never select a wrong filter;
 *     the directory and files must be owned by us and closed to group and others;
 *  3. libseccomp (~16 ms for Docker's profile), after which the result is cached.
 * Any cache problem silently falls back to compiling: the cache is an optimisation only.
 */
#include "runtime/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"
#include "runtime/seccomp_default.h"
#include "runtime/seccomp_profile.h"

#define MAX_PROFILE_BYTES (4u << 20)
#define CACHE_MAGIC "SDSCMP2\n"   /* 2: binary-tree filters */

struct rt_seccomp {
  enum rt_seccomp_source src;
  unsigned flags;                       /* SECCOMP_FILTER_FLAG_* */
  size_t len;                           /* instructions; 0 = no filter */
  const struct sock_filter *insns;      /* static array or data */
  struct sock_filter data[];
};

static _Thread_local char last_error[RT_SCMP_ERRLEN];
static const char *cache_dir = RT_SECCOMP_CACHE_DIR;

const char *rt_seccomp_last_error(void) { return last_error; }

void rt_seccomp_set_cache_dir(const char *dir) { cache_dir = dir ? dir : RT_SECCOMP_CACHE_DIR; }

enum rt_seccomp_source rt_seccomp_source(const struct rt_seccomp *f) { return f->src; }

bool rt_seccomp_is_empty(const struct rt_seccomp *f) { return f->len == 0; }

size_t rt_seccomp_bpf(const struct rt_seccomp *f, const void **ret_insns) {
  *ret_insns = f->insns;
  return f->len;
}

void rt_seccomp_free(struct rt_seccomp *f) { free(f); }
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rt_seccomp *, rt_seccomp_free)

static struct rt_seccomp *filter_new(enum rt_seccomp_source src, unsigned flags,
                                     const void *insns, size_t len) {
  struct rt_seccomp *f = malloc(sizeof(*f) + len * sizeof(struct sock_filter));

  if (!f)
    return NULL;
  *f = (struct rt_seccomp){.src = src, .flags = flags, .len = len, .insns = f->data};
  if (len)
    memcpy(f->data, insns, len * sizeof(struct sock_filter));
  return f;
}

/* ---- cache key ---- */

struct cache_key_fixed {
  char kind[8];           /* "builtin" or "json" */
  uint64_t caps;
  uint32_t arch;
  uint32_t scmp_version[3];
  char kernel[65];        /* uname release (minKernel conditions) */
  char pad[7];
};

struct cache_key {
  struct cache_key_fixed fixed;
  const char *profile;    /* profile bytes, or the built-in selection */
  size_t profile_len;
};

struct cache_hdr {
  char magic[8];
  uint32_t key_len;       /* sizeof(cache_key_fixed) + profile_len */
  uint32_t bpf_len;       /* bytes */
  uint32_t flags;
  uint32_t reserved;
};

static void cache_key_init(struct cache_key *k, const char *kind, uint64_t caps,
                           const char *profile, size_t len) {
  const struct scmp_version *v = seccomp_version();
  struct utsname u;

  memset(&k->fixed, 0, sizeof(k->fixed));
  snprintf(k->fixed.kind, sizeof(k->fixed.kind), "%s", kind);
  k->fixed.caps = caps;
  k->fixed.arch = seccomp_arch_native();
  if (v) {
    k->fixed.scmp_version[0] = v->major;
    k->fixed.scmp_version[1] = v->minor;
    k->fixed.scmp_version[2] = v->micro;
  }
  if (uname(&u) == 0)
    snprintf(k->fixed.kernel, sizeof(k->fixed.kernel), "%s", u.release);
  k->profile = profile;
  k->profile_len = len;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * UINT64_C(0x100000001b3);
  return h;
}

static void cache_name(const struct cache_key *k, char name[32]) {
  uint64_t h = fnv1a(UINT64_C(0xcbf29ce484222325), &k->fixed, sizeof(k->fixed));
  h = fnv1a(h, k->profile, k->profile_len);
  snprintf(name, 32, "%016llx.bpf", (unsigned long long)h);
}

/* ---- cache directory ---- */

static bool private_to_us(const struct stat *st) {
  return st->st_uid == geteuid() && (st->st_mode & 077) == 0;
}

/* Open (creating when missing) the cache directory; -1 when it cannot be trusted. */
static int cache_dir_open(bool create) {
  _cleanup_close_ int fd = -1;
  struct stat st;

  if (!cache_dir || !*cache_dir)
    return -1;
  fd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create) {
    char path[256];
    size_t n = strlen(cache_dir);
    if (n >= sizeof(path))
      return -1;
    memcpy(path, cache_dir, n + 1);
    for (char *s = path + 1; *s; s++)
      if (*s == '/') {
        *s = 0;
        (void)mkdir(path, 0700);
        *s = '/';
      }
    (void)mkdir(path, 0700);
    fd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0 || fstat(fd, &st) < 0 || !private_to_us(&st))
    return -1;
  return TAKE_FD(fd);
}

static bool read_full(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= (size_t)r;
  }
  return true;
}

/* A cached filter for k, or NULL (miss, or anything suspicious). */
static struct rt_seccomp *cache_lookup(const struct cache_key *k) {
  _cleanup_close_ int dfd = cache_dir_open(false), fd = -1;
  _cleanup_free_ char *buf = NULL;
  _cleanup_(rt_seccomp_freep) struct rt_seccomp *f = NULL;
  size_t key_len = sizeof(k->fixed) + k->profile_len;
  struct cache_hdr h;
  struct stat st;
  char name[32];

  if (dfd < 0)
    return NULL;
  cache_name(k, name);
  fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !private_to_us(&st))
    return NULL;
  if (!read_full(fd, &h, sizeof(h)) || memcmp(h.magic, CACHE_MAGIC, 8) != 0 ||
      h.key_len != key_len || h.bpf_len == 0 || h.bpf_len % sizeof(struct sock_filter) ||
      h.bpf_len > BPF_MAXINSNS * sizeof(struct sock_filter) ||
      (uint64_t)st.st_size != sizeof(h) + (uint64_t)h.key_len + h.bpf_len)
    return NULL;
  buf = malloc(key_len);
  f = malloc(sizeof(*f) + h.bpf_len);
  if (!buf || !f || !read_full(fd, buf, key_len) ||
      memcmp(buf, &k->fixed, sizeof(k->fixed)) != 0 ||
      memcmp(buf + sizeof(k->fixed), k->profile, k->profile_len) != 0 ||
      !read_full(fd, f->data, h.bpf_len))
    return NULL;
  f->src = RT_SECCOMP_SRC_CACHE;
  f->flags = h.flags;
  f->len = h.bpf_len / sizeof(struct sock_filter);
  f->insns = f->data;
  return TAKE_PTR(f);
}

/* Best effort: write to a temporary name, then rename over the final one. */
static void cache_store(const struct cache_key *k, const struct rt_seccomp *f) {
  _cleanup_close_ int dfd = cache_dir_open(true), fd = -1;
  struct cache_hdr h = {.key_len = (uint32_t)(sizeof(k->fixed) + k->profile_len),
                        .bpf_len = (uint32_t)(f->len * sizeof(struct sock_filter)),
                        .flags = f->flags};
  char name[32], tmp[64];
  bool ok;

  if (dfd < 0 || f->len == 0 || k->profile_len > MAX_PROFILE_BYTES)
    return;
  memcpy(h.magic, CACHE_MAGIC, 8);
  cache_name(k, name);
  snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int)getpid());
  fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return;
  ok = sd_write_all(fd, &h, sizeof(h)) == 0 &&
       sd_write_all(fd, &k->fixed, sizeof(k->fixed)) == 0 &&
       sd_write_all(fd, k->profile, k->profile_len) == 0 &&
       sd_write_all(fd, f->insns, h.bpf_len) == 0 && fchmod(fd, 0600) == 0;
  if (!ok || renameat(dfd, tmp, dfd, name) < 0)
    (void)unlinkat(dfd, tmp, 0);
}

/* ---- compiling ---- */

static void releasep(scmp_filter_ctx *ctx) {
  if (*ctx)
    seccomp_release(*ctx);
}

static int export_filter(scmp_filter_ctx ctx, unsigned flags, struct rt_seccomp **ret) {
  _cleanup_free_ void *insns = NULL;
  size_t len = 0;
  int r;

  if (ctx && (r = rt_scmp_export(ctx, &insns, &len)) < 0) {
    snprintf(last_error, sizeof(last_error), "cannot export the seccomp filter: %s",
             strerror(-r));
    return r == -ENOMEM ? r : -EINVAL;
  }
  *ret = filter_new(RT_SECCOMP_SRC_COMPILED, flags, insns, len);
  return *ret ? 0 : -ENOMEM;
}

static int compile_builtin(uint64_t caps, struct rt_seccomp **ret) {
  uint64_t sel = rt_seccomp_default_selection(caps, rt_scmp_kernel_version());
  _cleanup_(releasep) scmp_filter_ctx ctx = NULL;
  struct cache_key k;
  int r;

  if (sel == rt_seccomp_default_bpf_selection && rt_seccomp_default_bpf_len > 0 &&
      rt_seccomp_default_bpf_arch == seccomp_arch_native()) {
    struct rt_seccomp *f = filter_new(RT_SECCOMP_SRC_PRECOMPILED, 0, NULL, 0);
    if (!f)
      return -ENOMEM;
    f->insns = rt_seccomp_default_bpf;
    f->len = rt_seccomp_default_bpf_len;
    *ret = f;
    return 0;
  }
  /* Only the selection matters for the built-in table, so it is the whole key. */
  cache_key_init(&k, "builtin", 0, (const char *)&sel, sizeof(sel));
  if ((*ret = cache_lookup(&k)))
    return 0;
  if ((r = rt_seccomp_default_build(sel, &ctx)) < 0) {
    snprintf(last_error, sizeof(last_error), "cannot build the default seccomp filter: %s",
             strerror(-r));
    return r == -ENOMEM ? r : -EINVAL;
  }
  if ((r = export_filter(ctx, 0, ret)) < 0)
    return r;
  cache_store(&k, *ret);
  return 0;
}

/* Read a whole profile file (at most MAX_PROFILE_BYTES). */
static int read_profile(const char *path, char **ret, size_t *ret_len) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  _cleanup_free_ char *buf = NULL;
  struct stat st;

  if (fd < 0 || fstat(fd, &st) < 0) {
    int r = -errno;
    snprintf(last_error, sizeof(last_error), "seccomp profile %.180s: %s", path, strerror(-r));
    return r;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > MAX_PROFILE_BYTES) {
    snprintf(last_error, sizeof(last_error), "seccomp profile %.180s: %s", path,
             S_ISREG(st.st_mode) ? "larger than 4 MiB" : "not a regular file");
    return -EINVAL;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return -ENOMEM;
  if (!read_full(fd, buf, (size_t)st.st_size)) {
    snprintf(last_error, sizeof(last_error), "seccomp profile %.180s: read failed", path);
    return -EIO;
  }
  buf[st.st_size] = 0;
  *ret_len = (size_t)st.st_size;
  *ret = TAKE_PTR(buf);
  return 0;
}

/* use_cache: the on-disk cache stores the profile bytes in its key; a profile given by
 * content (rt_seccomp_compile_json) is never written anywhere, so it is not cached. */
static int compile_content(const char *json, size_t len, uint64_t caps, bool use_cache,
                           struct rt_seccomp **ret) {
  _cleanup_(releasep) scmp_filter_ctx ctx = NULL;
  struct cache_key k;
  unsigned flags = 0;
  int r;

  cache_key_init(&k, "json", caps, json, len);
  if (use_cache && (*ret = cache_lookup(&k)))
    return 0;
  r = rt_seccomp_profile_build(json, len, caps, &ctx, &flags, last_error);
  if (r < 0) {
    return r == -ENOMEM ? r : (r == -EOPNOTSUPP ? r : -EINVAL);
  }
  if ((r = export_filter(ctx, flags, ret)) < 0)
    return r;
  if (use_cache)
    cache_store(&k, *ret);
  return 0;
}

static int compile_json(const char *path, uint64_t caps, struct rt_seccomp **ret) {
  _cleanup_free_ char *json = NULL;
  size_t len = 0;
  int r;

  if ((r = read_profile(path, &json, &len)) < 0)
    return r;
  return compile_content(json, len, caps, true, ret);
}

int rt_seccomp_compile_json(const void *json, size_t len, uint64_t caps,
                            struct rt_seccomp **ret) {
  struct rt_seccomp *f = NULL;
  int r;

  last_error[0] = 0;
  if (!ret || (!json && len)) {
    snprintf(last_error, sizeof(last_error), "no profile or no result pointer");
    return -EINVAL;
  }
  if (len > MAX_PROFILE_BYTES) {
    snprintf(last_error, sizeof(last_error), "seccomp profile larger than 4 MiB");
    return -EINVAL;
  }
  if ((r = compile_content(json ? json : "", len, caps, false, &f)) < 0)
    return r;
  *ret = f;
  return 0;
}

int rt_seccomp_compile(const char *profile, uint64_t caps, struct rt_seccomp **ret) {
  struct rt_seccomp *f = NULL;
  int r;

  last_error[0] = 0;
  if (!ret) {
    snprintf(last_error, sizeof(last_error), "no result pointer");
    return -EINVAL;
  }
  if (profile && !*profile) {
    snprintf(last_error, sizeof(last_error), "empty seccomp profile path");
    return -EINVAL;
  }
  r = profile ? compile_json(profile, caps, &f) : compile_builtin(caps, &f);
  if (r < 0)
    return r;
  *ret = f;
  return 0;
}

int rt_seccomp_load(const struct rt_seccomp *f) {
  struct sock_fprog prog;

  if (!f)
    return -EINVAL;
  if (f->len == 0)
    return 0;                   /* Docker's "nothing specified": no filter */
  prog.len = (unsigned short)f->len;
  prog.filter = (struct sock_filter *)f->insns;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, f->flags, &prog) < 0)
    return -errno;
  return 0;
}
