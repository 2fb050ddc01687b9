/* libsodium's one-time initialisation for crypto/. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>

#include "crypto/internal.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void do_init(void) { init_result = sodium_init() < 0 ? -EIO : 0; }

int sd_crypto_init(void) {
  pthread_once(&init_once, do_init);
  return init_result;
}
