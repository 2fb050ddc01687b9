/*
 * The signed statement (the DSSE payload, TRUST_PAYLOAD_TYPE): one signer
 * says that the image with manifest digest D is version V of NAME for
 * CHANNEL until EXPIRES. Canonical JSON, keys in this order:
 *   {"_type":"https://secretd.dev/trust/statement/v1","digest":"sha256:HEX",
 *    "name":NAME,"version":V,"channel":CHANNEL,"issued":UNIX,"expires":UNIX,
 *    "keyid":KEYID}
 * The key id binds the statement to its signer, so that a signature cannot
 * be moved to another key's envelope.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "image/err.h"
#include "image/store.h"
#include "image/trust_util.h"

#define TRUST_STATEMENT_TYPE "https://secretd.dev/trust/statement/v1"
#define TRUST_MAX_VERSION ((uint64_t)1 << 53) /* exact in every JSON reader */
#define TRUST_MAX_TIME ((int64_t)1 << 40)     /* unix seconds: year 36812; no overflow in sums */

struct trust_statement {
  char digest[IMG_HEX_LEN + 1]; /* hex, without "sha256:" */
  char name[IMG_MAX_NAME + 1];
  uint64_t version;            /* 1..TRUST_MAX_VERSION */
  char channel[TRUST_MAX_CHANNEL + 1];
  int64_t issued, expires;     /* unix seconds, 0 <= issued < expires <= TRUST_MAX_TIME */
  char keyid[TRUST_KEYID_LEN + 1];
};

/* Check the fields (name as the store's names, channel, key id, version and
 * times in range). Returns 0 or -EINVAL with err saying which. */
int trust_statement_check(const struct trust_statement *s, struct img_err *err);

/* The statement as canonical JSON (malloc'd, no newline) in *ret, *ret_len
 * bytes. Returns 0, -EINVAL (fields fail trust_statement_check), -ENOMEM. */
int trust_statement_encode(const struct trust_statement *s, char **ret, size_t *ret_len,
                           struct img_err *err);

/* Decode a statement from len bytes. Strict: every field present with its
 * type, no other field, the values valid as trust_statement_check says.
 * Returns 0 or -EINVAL with err saying why. */
int trust_statement_decode(const uint8_t *p, size_t len, struct trust_statement *ret,
                           struct img_err *err);
