/*
 * The keyed hash chain of the audit log:
 *   h_n = BLAKE2b-256(key = audit key, prev_hash(32) || record bytes)
 * where the record bytes are the canonical msgpack encoding of the record's
 * fields other than the hashes (store/ defines that encoding). The first
 * record's prev_hash is 32 zero bytes. Without the key no one can forge a
 * consistent chain.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"

#define SD_AUDIT_HASH_LEN 32

/* Compute h = MAC(key, prev || rec). Returns 0 (cannot fail otherwise). */
int sd_audit_mac(const struct sd_key *key, const uint8_t prev[SD_AUDIT_HASH_LEN],
                 const uint8_t *rec, size_t rec_len, uint8_t out[SD_AUDIT_HASH_LEN]);

/* Lower-case hex of a hash into out (65 bytes incl. NUL). */
void sd_hash_hex(const uint8_t h[SD_AUDIT_HASH_LEN], char out[2 * SD_AUDIT_HASH_LEN + 1]);

/* Parse 64 hex chars. Returns 0 or -EINVAL. */
int sd_hash_from_hex(const char *hex, uint8_t out[SD_AUDIT_HASH_LEN]);
