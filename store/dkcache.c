/*
 * The cache of unwrapped data keys (internal.h): a read of a version whose
 * data key is here skips the key unwrap (an XChaCha20-Poly1305 decryption,
 * a seventh of a read) and decrypts the value only.
 *
 * Why the exposure does not grow: the master key that unwraps every data key
 * is resident and readable whenever these are (it lingers between reads and
 * is sealed by store_seal_idle_keys, which wipes this cache too); the slots
 * are secret memory (locked, out of core dumps, zeros in a forked child) and
 * wiped on master-key rotation and store close. What a hit still checks:
 * the version record's tag (recmac.c) before the cache is asked, and the
 * value's AEAD tag under the cached key after, so a changed ciphertext is
 * refused and reported as before.
 *
 * A slot is found from the wrap's random nonce and holds (id, version, the
 * whole 72-byte wrapped key): a hit needs the very wrap that was unwrapped
 * under this master key for this id and version (AD binds both), so a wrap
 * restored from before a rotation, or moved from another version, misses and
 * goes to the unwrap, which refuses it. Two-way set associative: a new key
 * replaces the least recently used of its set's two.
 *
 * Size: STORE_DKCACHE_SLOTS (65,536 keys, 8 MiB) holds most of a working set
 * of some 50,000 versions; it is mapped, locked, on the first read of a
 * value only (tools that never read one never pay for it).
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "base/secbuf.h"
#include "store/internal.h"

struct dk_slot {
  uint8_t wrapped[SD_WRAPPED_KEY_LEN];
  uint8_t id[SD_SECRET_ID_LEN];
  uint32_t version;
  uint32_t stamp; /* 0: empty; else when last used (larger: later) */
  uint8_t dk[SD_KEY_LEN];
};
_Static_assert(sizeof(struct dk_slot) == 128, "slot size");
_Static_assert((STORE_DKCACHE_SLOTS & (STORE_DKCACHE_SLOTS - 1)) == 0, "power of two");

void store_dkcache_init(struct store_dkcache *c) {
  memset(c, 0, sizeof(*c));
  pthread_mutex_init(&c->mu, NULL);
}

#define WAYS 2

/* The first of the WAYS slots of wrapped's set. */
static struct dk_slot *set_for(struct store_dkcache *c, const uint8_t wrapped[SD_WRAPPED_KEY_LEN]) {
  uint32_t h;
  memcpy(&h, wrapped, sizeof(h)); /* the wrap's random nonce: uniform */
  return (struct dk_slot *)secbuf_data(c->slots) + WAYS * (h & (STORE_DKCACHE_SLOTS / WAYS - 1));
}

static bool slot_is(const struct dk_slot *e, const uint8_t id[SD_SECRET_ID_LEN], uint32_t version,
                    const uint8_t wrapped[SD_WRAPPED_KEY_LEN]) {
  return e->stamp && e->version == version && memcmp(e->id, id, SD_SECRET_ID_LEN) == 0 &&
         memcmp(e->wrapped, wrapped, SD_WRAPPED_KEY_LEN) == 0;
}

static uint32_t tick(struct store_dkcache *c) {
  if (++c->clock == 0) /* wrapped: one eviction may pick the newer slot, no harm */
    c->clock = 1;
  return c->clock;
}

bool store_dkcache_get(struct store_dkcache *c, const uint8_t id[SD_SECRET_ID_LEN],
                       uint32_t version, const uint8_t wrapped[SD_WRAPPED_KEY_LEN],
                       uint8_t dk[SD_KEY_LEN]) {
  bool hit = false;
  pthread_mutex_lock(&c->mu);
  if (c->slots) {
    struct dk_slot *e = set_for(c, wrapped);
    for (unsigned w = 0; !hit && w < WAYS; w++)
      if ((hit = slot_is(&e[w], id, version, wrapped))) {
        memcpy(dk, e[w].dk, SD_KEY_LEN);
        e[w].stamp = tick(c);
      }
  }
  if (hit)
    c->hits++;
  else
    c->misses++;
  pthread_mutex_unlock(&c->mu);
  return hit;
}

void store_dkcache_put(struct store_dkcache *c, const uint8_t id[SD_SECRET_ID_LEN],
                       uint32_t version, const uint8_t wrapped[SD_WRAPPED_KEY_LEN],
                       const uint8_t dk[SD_KEY_LEN]) {
  pthread_mutex_lock(&c->mu);
  /* First use: a store that never reads a value (the CLI's admin verbs)
   * never locks these pages. No room: reads go on without the cache. */
  if (!c->slots && secbuf_new(STORE_DKCACHE_SLOTS * sizeof(struct dk_slot), &c->slots) < 0)
    c->slots = NULL;
  if (c->slots) {
    struct dk_slot *set = set_for(c, wrapped), *e = &set[0];
    for (unsigned w = 1; w < WAYS; w++) /* an empty slot, else the least recently used */
      if (e->stamp && (!set[w].stamp || set[w].stamp < e->stamp))
        e = &set[w];
    if (!e->stamp)
      c->n_used++;
    memcpy(e->wrapped, wrapped, SD_WRAPPED_KEY_LEN);
    memcpy(e->id, id, SD_SECRET_ID_LEN);
    e->version = version;
    memcpy(e->dk, dk, SD_KEY_LEN);
    e->stamp = tick(c);
  }
  pthread_mutex_unlock(&c->mu);
}

void store_dkcache_wipe(struct store_dkcache *c) {
  pthread_mutex_lock(&c->mu);
  if (c->slots && c->n_used)
    sodium_memzero(secbuf_data(c->slots), secbuf_len(c->slots));
  c->n_used = 0;
  c->clock = 0;
  pthread_mutex_unlock(&c->mu);
}

size_t store_dkcache_count(struct store_dkcache *c) {
  pthread_mutex_lock(&c->mu);
  size_t n = c->n_used;
  pthread_mutex_unlock(&c->mu);
  return n;
}

void store_dkcache_close(struct store_dkcache *c) {
  secbuf_free(c->slots); /* wipes */
  c->slots = NULL;
  c->n_used = 0;
  pthread_mutex_destroy(&c->mu);
}
