/*
 * libFuzzer harness for the content-trust file parsers: the first byte picks
 * the key file parser (image/trust_key.c; parsing only: opening would run
 * Argon2id), the public key file parser or the policy parser
 * (image/trust_policy.c, with a rule lookup on what parses). Never a crash,
 * hang or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "image/trust_key.h"
#include "image/trust_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536)
    return 0;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  struct img_err err = {0};
  switch (data[0] % 3) {
  case 0: {
    struct trust_key_file k;
    (void)trust_key_parse(text, len, &k, &err);
    break;
  }
  case 1: {
    uint8_t pk[32];
    char id[TRUST_KEYID_LEN + 1];
    (void)trust_pub_parse(text, len, pk, id, &err);
    break;
  }
  default: {
    struct trust_policy *p = NULL;
    if (trust_policy_parse(text, len, &p, &err) == 0) {
      int t;
      (void)trust_policy_rule(p, "app/web", "prod", &t);
      (void)trust_policy_counts(p, "app", "prod", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
      (void)trust_policy_enforced(p, "0");
      trust_policy_free(p);
    }
    break;
  }
  }
  return 0;
}
