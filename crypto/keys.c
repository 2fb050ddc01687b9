#include "crypto/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/io.h"
#include "crypto/internal.h"

struct sd_key {
  uint8_t *bytes; /* sodium_malloc(SD_KEY_LEN), PROT_NONE while users == 0 */
  pthread_mutex_t mu;
  unsigned users;
  bool open;      /* mapped readable (users > 0, or lingering since the last use) */
  bool lingering; /* stay readable after the last release until sd_key_seal_idle() */
};

static int key_alloc(struct sd_key **ret) {
  int r = sd_crypto_init();
  if (r < 0)
    return r;
  struct sd_key *k = calloc(1, sizeof(*k));
  if (!k)
    return -ENOMEM;
  k->bytes = sodium_malloc(SD_KEY_LEN);
  if (!k->bytes) {
    free(k);
    return -ENOMEM;
  }
  pthread_mutex_init(&k->mu, NULL);
  *ret = k;
  return 0;
}

/* Finish construction: hide the bytes. */
static void key_seal(struct sd_key *k) { sodium_mprotect_noaccess(k->bytes); }

int sd_key_generate(struct sd_key **ret) {
  struct sd_key *k;
  int r = key_alloc(&k);
  if (r < 0)
    return r;
  randombytes_buf(k->bytes, SD_KEY_LEN);
  key_seal(k);
  *ret = k;
  return 0;
}

int sd_key_from_bytes(const uint8_t *b, size_t n, struct sd_key **ret) {
  if (!b || n != SD_KEY_LEN)
    return -EINVAL;
  struct sd_key *k;
  int r = key_alloc(&k);
  if (r < 0)
    return r;
  memcpy(k->bytes, b, SD_KEY_LEN);
  key_seal(k);
  *ret = k;
  return 0;
}

/*
 * users and open are atomics (sequentially consistent): a lingering key that
 * is open is entered and left without the mutex (the store's master key, on
 * every read). The one who seals (under the mutex) clears open and then
 * looks at users again; a fast-path user counts itself and then looks at
 * open. In the single order of these four steps at least one of them sees
 * the other: either the user backs off to the slow path, or the sealer
 * sees the user and reopens without touching the protection.
 */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)
#define ADD(x, v) __atomic_add_fetch(&(x), (v), __ATOMIC_SEQ_CST)
#define SUB(x, v) __atomic_sub_fetch(&(x), (v), __ATOMIC_SEQ_CST)

/* With k->mu held: PROT_NONE unless someone holds the key. */
static void seal_locked(struct sd_key *k) {
  if (LOAD(k->users) != 0 || !LOAD(k->open))
    return;
  STORE(k->open, false);
  if (LOAD(k->users) != 0) {
    STORE(k->open, true); /* a fast-path user came in: it keeps the window */
    return;
  }
  sodium_mprotect_noaccess(k->bytes);
}

const uint8_t *sd_key_acquire(const struct sd_key *ck) {
  struct sd_key *k = (struct sd_key *)ck; /* refcount is not part of the value */
  if (LOAD(k->lingering)) {
    ADD(k->users, 1);
    if (LOAD(k->open))
      return k->bytes;
    SUB(k->users, 1); /* being sealed or not opened yet: the slow path */
  }
  pthread_mutex_lock(&k->mu);
  ADD(k->users, 1);
  if (!LOAD(k->open)) {
    sodium_mprotect_readonly(k->bytes);
    STORE(k->open, true);
  }
  pthread_mutex_unlock(&k->mu);
  return k->bytes;
}

void sd_key_release(const struct sd_key *ck) {
  struct sd_key *k = (struct sd_key *)ck;
  if (LOAD(k->lingering)) {
    SUB(k->users, 1); /* stays open until sd_key_seal_idle() */
    return;
  }
  pthread_mutex_lock(&k->mu);
  SUB(k->users, 1);
  seal_locked(k);
  pthread_mutex_unlock(&k->mu);
}

void sd_key_set_lingering(struct sd_key *k, bool on) {
  pthread_mutex_lock(&k->mu);
  STORE(k->lingering, on);
  if (!on)
    seal_locked(k);
  pthread_mutex_unlock(&k->mu);
}

void sd_key_seal_idle(const struct sd_key *ck) {
  struct sd_key *k = (struct sd_key *)ck;
  if (!k)
    return;
  pthread_mutex_lock(&k->mu);
  seal_locked(k);
  pthread_mutex_unlock(&k->mu);
}

int sd_key_equal(const struct sd_key *a, const struct sd_key *b) {
  const uint8_t *x = sd_key_acquire(a), *y = sd_key_acquire(b);
  int eq = sodium_memcmp(x, y, SD_KEY_LEN) == 0;
  sd_key_release(b);
  sd_key_release(a);
  return eq;
}

int sd_key_to_token(const struct sd_key *k, char *out, size_t outlen) {
  const size_t plen = sizeof(SD_KEY_TOKEN_PREFIX) - 1;
  if (!out || outlen <= SD_KEY_TOKEN_LEN)
    return -ENOBUFS;
  memcpy(out, SD_KEY_TOKEN_PREFIX, plen);
  const uint8_t *kb = sd_key_acquire(k);
  sodium_bin2base64(out + plen, outlen - plen, kb, SD_KEY_LEN,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sd_key_release(k);
  return 0;
}

int sd_key_from_token(const char *token, struct sd_key **ret) {
  const size_t plen = sizeof(SD_KEY_TOKEN_PREFIX) - 1;
  if (!token || strncmp(token, SD_KEY_TOKEN_PREFIX, plen) != 0)
    return -EINVAL;
  const char *b64 = token + plen;
  size_t len = strnlen(b64, 128);
  while (len > 0 && (b64[len - 1] == '\n' || b64[len - 1] == '\r' || b64[len - 1] == ' ' ||
                     b64[len - 1] == '\t'))
    len--;
  if (len != SD_KEY_TOKEN_LEN - plen)
    return -EINVAL;
  uint8_t raw[SD_KEY_LEN];
  size_t n = 0;
  const char *end = NULL;
  int r = -EINVAL;
  if (sodium_base642bin(raw, sizeof(raw), b64, len, NULL, &n, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
      n == SD_KEY_LEN && end == b64 + len)
    r = sd_key_from_bytes(raw, n, ret);
  sodium_memzero(raw, sizeof(raw));
  return r;
}

int sd_key_read_file(const char *path, struct sd_key **ret) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -errno;
  char buf[4097];
  size_t used = 0;
  int r = 0;
  for (;;) {
    ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      r = -errno;
      goto out;
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (used == sizeof(buf) - 1) {
      r = -EFBIG;
      goto out;
    }
  }
  buf[used] = '\0';
  if (strlen(buf) != used) {
    r = -EINVAL;
    goto out;
  }
  r = sd_key_from_token(buf, ret);
out:
  sodium_memzero(buf, sizeof(buf));
  return r;
}

static int fsync_parent(const char *path) {
  char tmp[4096];
  if (strlen(path) >= sizeof(tmp))
    return -ENAMETOOLONG;
  strcpy(tmp, path);
  _cleanup_close_ int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -errno;
  return fsync(dfd) < 0 ? -errno : 0;
}

int sd_key_write_file(const char *path, const struct sd_key *k) {
  char tmp[4096];
  char tok[SD_KEY_TOKEN_LEN + 2];
  int r;
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
    return -ENAMETOOLONG;
  (void)unlink(tmp); /* stale from a crash */
  _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return -errno;
  if ((r = sd_key_to_token(k, tok, sizeof(tok))) < 0)
    goto fail;
  size_t n = strlen(tok);
  tok[n++] = '\n';
  r = sd_write_all(fd, tok, n);
  sodium_memzero(tok, sizeof(tok));
  if (r < 0)
    goto fail;
  if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
    r = -errno;
    goto fail;
  }
  if (rename(tmp, path) < 0) {
    r = -errno;
    goto fail;
  }
  return fsync_parent(path);
fail:
  sodium_memzero(tok, sizeof(tok));
  (void)unlink(tmp);
  return r;
}

void sd_key_free(struct sd_key *k) {
  if (!k)
    return;
  sodium_free(k->bytes); /* unprotects, wipes */
  pthread_mutex_destroy(&k->mu);
  free(k);
}
