/* The ordering of pushed and asked-for assignment sets. See agent/core/set_order.h. */
#include "agent/core/set_order.h"

#include <sodium.h>

enum ac_set_verdict ac_set_on_push(const struct ac_set_held *h, uint64_t generation,
                                   const uint8_t digest[AC_SET_DIGEST_LEN]) {
  if (!h->have || generation > h->generation)
    return AC_SET_TAKE;
  if (sodium_memcmp(digest, h->digest, AC_SET_DIGEST_LEN) == 0)
    return AC_SET_SKIP;
  return AC_SET_ASK;
}

enum ac_set_verdict ac_set_on_reply(const struct ac_set_held *h, bool pushed_since,
                                    uint64_t generation) {
  if (pushed_since && h->have && generation <= h->generation)
    return AC_SET_SKIP;
  return AC_SET_TAKE;
}
