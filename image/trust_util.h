/*
 * Small helpers shared by the content-trust modules (trust_*.c): base64 as
 * DSSE writes it (RFC 4648 with padding, libsodium's constant-time codec),
 * strict JSON parsing with json-c, durations ("90d") and the key id.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define TRUST_KEYID_LEN 64 /* hex of sha256(public key), without NUL */

/* Base64 (original alphabet, padded) of p[0..n) as a malloc'd string, or NULL
 * (out of memory). */
char *trust_b64_encode(const void *p, size_t n);

/* Decode the base64 text s into out (at most max bytes). Returns the number of
 * bytes, or -EINVAL (not base64, trailing garbage, more than max bytes). */
int trust_b64_decode(const char *s, uint8_t *out, size_t max);

/* Parse len bytes of JSON text into *ret (caller's to json_object_put).
 * Refuses NUL bytes, trailing bytes, nesting deeper than 8 and a top level
 * that is not an object. Returns 0 or -EINVAL. */
int trust_json_parse(const char *text, size_t len, json_object **ret);

/* Field key of object o if it has type t, else NULL. */
json_object *trust_json_get(json_object *o, const char *key, json_type t);

/* Field key of o if it is a string without NUL bytes, else NULL. */
const char *trust_json_str(json_object *o, const char *key);

/* True if every key of o is in the NULL-terminated list allowed. */
bool trust_json_only(json_object *o, const char *const *allowed);

/* Serialise o (plain, no slash escaping) into a malloc'd string with a final
 * newline. Returns NULL when out of memory. */
char *trust_json_text(json_object *o, bool pretty);

/* Parse a duration "N[s|m|h|d|w]" (no unit: seconds) into seconds, at most
 * 100 years. Returns 0 or -EINVAL. */
int trust_duration_parse(const char *s, int64_t *ret);

/* Format seconds as a short duration ("3d4h", "45m", "12s") into out. */
void trust_duration_format(int64_t secs, char *out, size_t n);

/* The key id of an Ed25519 public key: lowercase hex sha256 of the 32 bytes. */
void trust_keyid(const uint8_t pk[32], char out[TRUST_KEYID_LEN + 1]);

/* True if s is a key id (64 lowercase hex digits). */
bool trust_keyid_valid(const char *s);

/* Channels: 1..32 characters of [a-z0-9._-], starting with a letter or digit. */
#define TRUST_MAX_CHANNEL 32
bool trust_channel_valid(const char *s);

/* Write len bytes to path atomically: a temporary file in the same directory
 * with mode, fsync, rename, fsync of the directory. Returns 0 or -errno. */
int trust_write_atomic(const char *path, const void *p, size_t len, unsigned mode);
