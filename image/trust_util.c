/* Helpers of the content-trust modules (see trust_util.h). */
#include "image/trust_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/digest.h"

char *trust_b64_encode(const void *p, size_t n) {
  size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
  char *s = malloc(len);
  if (!s)
    return NULL;
  sodium_bin2base64(s, len, p, n, sodium_base64_VARIANT_ORIGINAL);
  return s;
}

int trust_b64_decode(const char *s, uint8_t *out, size_t max) {
  size_t n = 0;
  const char *end = NULL;
  if (sodium_base642bin(out, max, s, strlen(s), NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      !end || *end)
    return -EINVAL;
  if (n > INT_MAX)
    return -EINVAL;
  return (int)n;
}

int trust_json_parse(const char *text, size_t len, json_object **ret) {
  if (len == 0 || len > INT_MAX || memchr(text, '\0', len))
    return -EINVAL;
  json_tokener *tok = json_tokener_new_ex(8);
  if (!tok)
    return -ENOMEM;
  json_object *o = json_tokener_parse_ex(tok, text, (int)len);
  int r = 0;
  if (!o || json_tokener_get_error(tok) != json_tokener_success)
    r = -EINVAL;
  else if (json_tokener_get_parse_end(tok) != len) {
    /* only white space may follow the document */
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
      if (!isspace((unsigned char)text[i]))
        r = -EINVAL;
  }
  if (r == 0 && !json_object_is_type(o, json_type_object))
    r = -EINVAL;
  json_tokener_free(tok);
  if (r < 0) {
    json_object_put(o);
    return r;
  }
  *ret = o;
  return 0;
}

json_object *trust_json_get(json_object *o, const char *key, json_type t) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
    return NULL;
  return v;
}

const char *trust_json_str(json_object *o, const char *key) {
  json_object *v = trust_json_get(o, key, json_type_string);
  if (!v)
    return NULL;
  const char *s = json_object_get_string(v);
  return (size_t)json_object_get_string_len(v) == strlen(s) ? s : NULL;
}

bool trust_json_only(json_object *o, const char *const *allowed) {
  json_object_object_foreach(o, k, v) {
    (void)v;
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++)
      ok = !strcmp(k, *a);
    if (!ok)
      return false;
  }
  return true;
}

char *trust_json_text(json_object *o, bool pretty) {
  int flags = JSON_C_TO_STRING_NOSLASHESCAPE | (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
  const char *s = json_object_to_json_string_ext(o, flags);
  char *out = NULL;
  if (!s || asprintf(&out, "%s\n", s) < 0)
    return NULL;
  return out;
}

int trust_duration_parse(const char *s, int64_t *ret) {
  if (!s || !isdigit((unsigned char)*s))
    return -EINVAL;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  int64_t unit = 1;
  switch (*end) {
  case '\0': break;
  case 's': unit = 1; end++; break;
  case 'm': unit = 60; end++; break;
  case 'h': unit = 3600; end++; break;
  case 'd': unit = 86400; end++; break;
  case 'w': unit = 7 * 86400; end++; break;
  default: return -EINVAL;
  }
  const int64_t max = (int64_t)100 * 366 * 86400;
  if (errno || *end || v > (unsigned long long)(max / unit))
    return -EINVAL;
  *ret = (int64_t)v * unit;
  return 0;
}

void trust_duration_format(int64_t secs, char *out, size_t n) {
  const char *sign = secs < 0 ? "-" : "";
  if (secs < 0)
    secs = -secs;
  if (secs >= 86400)
    snprintf(out, n, "%s%" PRId64 "d%" PRId64 "h", sign, secs / 86400, secs % 86400 / 3600);
  else if (secs >= 3600)
    snprintf(out, n, "%s%" PRId64 "h%" PRId64 "m", sign, secs / 3600, secs % 3600 / 60);
  else if (secs >= 60)
    snprintf(out, n, "%s%" PRId64 "m", sign, secs / 60);
  else
    snprintf(out, n, "%s%" PRId64 "s", sign, secs);
}

void trust_keyid(const uint8_t pk[32], char out[TRUST_KEYID_LEN + 1]) { img_sha256_hex(pk, 32, out); }

bool trust_keyid_valid(const char *s) { return s && img_hex_valid(s); }

bool trust_channel_valid(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > TRUST_MAX_CHANNEL || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && !strchr("._-", s[i]))
      return false;
  return true;
}

int trust_write_atomic(const char *path, const void *p, size_t len, unsigned mode) {
  char tmp[PATH_MAX], dir[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp ||
      snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
    return -ENAMETOOLONG;
  _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return -errno;
  int r = fchmod(fd, mode) < 0 ? -errno : 0; /* whatever the umask */
  if (r == 0)
    r = sd_write_all(fd, p, len);
  if (r == 0 && fsync(fd) < 0)
    r = -errno;
  if (r == 0 && rename(tmp, path) < 0)
    r = -errno;
  if (r < 0) {
    unlink(tmp);
    return r;
  }
  _cleanup_close_ int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    (void)fsync(dfd);
  return 0;
}
