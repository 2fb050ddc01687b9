/*
 * Test helper: create N secrets in an existing store through the store API,
 * many per batch (through secretd one request at a time 20,000 creates take
 * long under the sanitizers). Used by daemon_paging.sh.
 *
 *   store_secret_fill DIR N [G]  (unlock key from DIR/unlock.key, as secretd init wrote it)
 *
 * With G, one more secret "granted" is created with G grants, to the services
 * "svc" followed by 5 digits of a permutation of 0..G-1 (not printed).
 * Names are "p" followed by 6 digits of a permutation of 0..N-1 (i * 7919
 * mod N for N not a multiple of 7919), so that creation order is not name
 * order; each is printed on standard output, in creation order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parse.h"
#include "crypto/keys.h"
#include "store/store.h"

#define PER_BATCH 2000u

int main(int argc, char **argv) {
  char path[4096], token[256];
  uint64_t n;
  uint64_t g = 0;
  if ((argc != 3 && argc != 4) || sd_parse_u64(argv[2], 999999, &n) < 0 || n == 0 ||
      n % 7919 == 0 || (argc == 4 && (sd_parse_u64(argv[3], 99999, &g) < 0 || g % 7919 == 0))) {
    fprintf(stderr, "usage: store_secret_fill DIR N [G] (N < 10^6, G < 10^5, neither a "
                    "multiple of 7919)\n");
    return 2;
  }
  snprintf(path, sizeof(path), "%s/unlock.key", argv[1]);
  FILE *f = fopen(path, "re");
  if (!f || !fgets(token, sizeof(token), f)) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  fclose(f);
  struct sd_key *key = NULL;
  struct store *s = NULL;
  struct secbuf *value = NULL;
  struct store_actor actor = {.uid = 0};
  int r = sd_key_from_token(token, &key);
  memset(token, 0, sizeof(token));
  if (r == 0)
    r = store_open(argv[1], key, NULL, &s);
  sd_key_free(key);
  if (r == 0)
    r = secbuf_from("filler value", 12, &value);
  for (uint64_t done = 0; r == 0 && done < n;) {
    struct store_batch *b;
    if ((r = store_batch_begin(s, &b)) < 0)
      break;
    for (unsigned i = 0; r == 0 && i < PER_BATCH && done < n; i++, done++) {
      char name[32];
      snprintf(name, sizeof(name), "p%06llu", (unsigned long long)(done * 7919 % n));
      r = store_secret_create(b, &actor, name, value, NULL, 0, NULL);
      if (r == 0)
        puts(name);
    }
    if (r < 0)
      store_batch_abort(b);
    else
      r = store_batch_commit(b);
  }
  if (r == 0 && g) {
    struct store_batch *b;
    if ((r = store_batch_begin(s, &b)) == 0) {
      r = store_secret_create(b, &actor, "granted", value, NULL, 0, NULL);
      for (uint64_t i = 0; r == 0 && i < g; i++) {
        char svc[32];
        struct store_grant gr;
        store_grant_defaults(&gr);
        snprintf(svc, sizeof(svc), "svc%05llu", (unsigned long long)(i * 7919 % g));
        gr.service = svc;
        r = store_grant_add(b, &actor, "granted", &gr);
      }
      if (r < 0)
        store_batch_abort(b);
      else
        r = store_batch_commit(b);
    }
  }
  secbuf_free(value);
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "store_secret_fill: %s\n", sd_strerror(r));
    return 1;
  }
  return 0;
}
