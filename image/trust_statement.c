/* Signed statements: encoding and strict decoding (see trust_statement.h). */
#include "image/trust_statement.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/macro.h"

static void json_putp(json_object **o) { json_object_put(*o); }
#define _cleanup_json_ _cleanup_(json_putp)

int trust_statement_check(const struct trust_statement *s, struct img_err *err) {
  char name[IMG_MAX_NAME + 1], ver[129];
  if (!img_hex_valid(s->digest))
    return img_fail(err, -EINVAL, "statement digest is not sha256:<64 hex digits>");
  if (strchr(s->name, ':') || img_ref_parse(s->name, name, ver) < 0 || strcmp(name, s->name))
    return img_fail(err, -EINVAL, "statement name is not an image name");
  if (s->version < 1 || s->version > TRUST_MAX_VERSION)
    return img_fail(err, -EINVAL, "statement version out of range 1..2^53");
  if (!trust_channel_valid(s->channel))
    return img_fail(err, -EINVAL, "statement channel is not a channel name ([a-z0-9._-], 1..%d)",
                    TRUST_MAX_CHANNEL);
  if (s->issued < 0 || s->expires <= s->issued || s->expires > TRUST_MAX_TIME)
    return img_fail(err, -EINVAL, "statement times out of range (issued < expires <= 2^40)");
  if (!trust_keyid_valid(s->keyid))
    return img_fail(err, -EINVAL, "statement keyid is not 64 hex digits");
  return 0;
}

int trust_statement_encode(const struct trust_statement *s, char **ret, size_t *ret_len,
                           struct img_err *err) {
  int r = trust_statement_check(s, err);
  if (r < 0)
    return r;
  _cleanup_json_ json_object *o = json_object_new_object();
  if (!o)
    return -ENOMEM;
  char d[80];
  snprintf(d, sizeof d, "sha256:%s", s->digest);
  json_object_object_add(o, "_type", json_object_new_string(TRUST_STATEMENT_TYPE));
  json_object_object_add(o, "digest", json_object_new_string(d));
  json_object_object_add(o, "name", json_object_new_string(s->name));
  json_object_object_add(o, "version", json_object_new_int64((int64_t)s->version));
  json_object_object_add(o, "channel", json_object_new_string(s->channel));
  json_object_object_add(o, "issued", json_object_new_int64(s->issued));
  json_object_object_add(o, "expires", json_object_new_int64(s->expires));
  json_object_object_add(o, "keyid", json_object_new_string(s->keyid));
  const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  char *c = t ? strdup(t) : NULL;
  if (!c)
    return -ENOMEM;
  *ret_len = strlen(c);
  *ret = c;
  return 0;
}

/* A string field copied into out (size n); false if absent, not a string,
 * holding a NUL or too long. */
static bool get_str(json_object *o, const char *key, char *out, size_t n) {
  json_object *v = trust_json_get(o, key, json_type_string);
  if (!v)
    return false;
  const char *s = json_object_get_string(v);
  size_t l = (size_t)json_object_get_string_len(v);
  if (l != strlen(s) || l >= n)
    return false;
  memcpy(out, s, l + 1);
  return true;
}

int trust_statement_decode(const uint8_t *p, size_t len, struct trust_statement *ret,
                           struct img_err *err) {
  static const char *const fields[] = {"_type", "digest", "name", "version", "channel",
                                       "issued", "expires", "keyid", NULL};
  _cleanup_json_ json_object *o = NULL;
  struct trust_statement s = {0};
  char type[64], digest[80];
  if (trust_json_parse((const char *)p, len, &o) < 0)
    return img_fail(err, -EINVAL, "statement is not a JSON object");
  if (!trust_json_only(o, fields))
    return img_fail(err, -EINVAL, "statement has an unknown field");
  if (!get_str(o, "_type", type, sizeof type) || strcmp(type, TRUST_STATEMENT_TYPE))
    return img_fail(err, -EINVAL, "statement _type is not %s", TRUST_STATEMENT_TYPE);
  if (!get_str(o, "digest", digest, sizeof digest) || img_digest_parse(digest, s.digest) < 0)
    return img_fail(err, -EINVAL, "statement digest is not sha256:<64 hex digits>");
  if (!get_str(o, "name", s.name, sizeof s.name) || !get_str(o, "channel", s.channel, sizeof s.channel) ||
      !get_str(o, "keyid", s.keyid, sizeof s.keyid))
    return img_fail(err, -EINVAL, "statement name, channel or keyid missing or too long");
  json_object *v = trust_json_get(o, "version", json_type_int);
  json_object *is = trust_json_get(o, "issued", json_type_int);
  json_object *ex = trust_json_get(o, "expires", json_type_int);
  if (!v || !is || !ex)
    return img_fail(err, -EINVAL, "statement version, issued or expires missing or not an integer");
  int64_t ver = json_object_get_int64(v);
  if (ver < 1 || (uint64_t)ver > TRUST_MAX_VERSION)
    return img_fail(err, -EINVAL, "statement version out of range 1..2^53");
  s.version = (uint64_t)ver;
  s.issued = json_object_get_int64(is);
  s.expires = json_object_get_int64(ex);
  int r = trust_statement_check(&s, err);
  if (r < 0)
    return r;
  *ret = s;
  return 0;
}
