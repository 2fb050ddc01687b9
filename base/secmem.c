/*
 * The locked, guarded pool of secret memory (see secmem.h). Per size class: a
 * list of arenas and a stack of free blocks kept in ordinary heap memory.
 * Allocating pops a block (no system call once an arena exists); freeing
 * wipes what was used and pushes it back.
 */
#include "base/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECMEM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SECMEM_ASAN 1
#endif
#ifdef SECMEM_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

struct arena {
  struct arena *next;
  uint8_t *base; /* SD_SECMEM_ARENA usable bytes; guard pages at base - page and base + ARENA */
};

struct klass {
  pthread_mutex_t mu;
  size_t size;
  struct arena *arenas;
  void **free; /* stack of free blocks */
  size_t n_free, cap_free;
};

static struct klass classes[SD_SECMEM_N_CLASSES];
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sd_secmem_stats stats;
static size_t pool_max = SD_SECMEM_POOL_MAX;
static size_t page_size;
static bool forked;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void wipe(void *p, size_t n) {
  if (n)
    explicit_bzero(p, n);
}

static void lock_all(void) {
  pthread_mutex_lock(&stats_mu);
  for (unsigned i = 0; i < SD_SECMEM_N_CLASSES; i++)
    pthread_mutex_lock(&classes[i].mu);
}

static void unlock_all(void) {
  for (unsigned i = SD_SECMEM_N_CLASSES; i-- > 0;)
    pthread_mutex_unlock(&classes[i].mu);
  pthread_mutex_unlock(&stats_mu);
}

/* Memory locks are not inherited across fork: the child locks its (now
 * zeroed) arenas again before it can put a secret there. */
static void after_fork_child(void) {
  forked = true;
  for (unsigned i = 0; i < SD_SECMEM_N_CLASSES; i++)
    for (struct arena *a = classes[i].arenas; a; a = a->next)
      (void)mlock(a->base, SD_SECMEM_ARENA);
  unlock_all();
}

static void init_once(void) {
  long pg = sysconf(_SC_PAGESIZE);
  page_size = pg > 0 ? (size_t)pg : 4096;
  for (unsigned i = 0; i < SD_SECMEM_N_CLASSES; i++) {
    pthread_mutex_init(&classes[i].mu, NULL);
    classes[i].size = (size_t)SD_SECMEM_MIN_CLASS << i;
  }
  pthread_atfork(lock_all, unlock_all, after_fork_child);
}

/* A mapping of len usable bytes (a multiple of the page size) between two
 * guard pages; returns the usable start or NULL. */
static uint8_t *map_guarded(size_t len) {
  size_t total = len + 2 * page_size;
  uint8_t *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  if (mprotect(m, page_size, PROT_NONE) < 0 ||
      mprotect(m + page_size + len, page_size, PROT_NONE) < 0) {
    munmap(m, total);
    return NULL;
  }
  uint8_t *p = m + page_size;
  /* Both advices exist since Linux 3.4 / 4.14; on an older kernel the memory
   * is still locked and wiped, only dumps/forks are not covered. */
  (void)madvise(p, len, MADV_DONTDUMP);
  (void)madvise(p, len, MADV_WIPEONFORK);
  if (mlock(p, len) < 0)
    __atomic_fetch_add(&stats.lock_failures, 1, __ATOMIC_RELAXED);
  return p;
}

static void unmap_guarded(uint8_t *p, size_t len) {
  munlock(p, len);
  munmap(p - page_size, len + 2 * page_size);
}

/* With k->mu held: add an arena if the pool cap allows. Returns 0 or -ENOMEM. */
static int grow_class(struct klass *k) {
  size_t slots = SD_SECMEM_ARENA / k->size;
  pthread_mutex_lock(&stats_mu);
  bool room = stats.arena_bytes + SD_SECMEM_ARENA <= pool_max;
  if (room)
    stats.arena_bytes += SD_SECMEM_ARENA; /* reserved; given back on failure */
  pthread_mutex_unlock(&stats_mu);
  if (!room)
    return -ENOMEM;
  struct arena *a = calloc(1, sizeof(*a));
  void **nf = NULL;
  if (a && k->n_free + slots > k->cap_free) {
    nf = realloc(k->free, (k->cap_free + slots) * sizeof(*nf));
    if (nf) {
      k->free = nf;
      k->cap_free += slots;
    }
  } else {
    nf = k->free;
  }
  if (!a || !nf || !(a->base = map_guarded(SD_SECMEM_ARENA))) {
    free(a);
    pthread_mutex_lock(&stats_mu);
    stats.arena_bytes -= SD_SECMEM_ARENA;
    pthread_mutex_unlock(&stats_mu);
    return -ENOMEM;
  }
  a->next = k->arenas;
  k->arenas = a;
  /* Pushed in reverse so that blocks are handed out in address order. */
  for (size_t i = slots; i-- > 0;)
    k->free[k->n_free++] = a->base + i * k->size;
  POISON(a->base, SD_SECMEM_ARENA);
  return 0;
}

static unsigned class_of(size_t n) {
  unsigned c = 0;
  while (c < SD_SECMEM_N_CLASSES && ((size_t)SD_SECMEM_MIN_CLASS << c) < n)
    c++;
  return c;
}

/* Counters on the fast path are atomics, not under stats_mu. */
static void count_alloc(bool own) {
  __atomic_fetch_add(&stats.in_use, 1, __ATOMIC_RELAXED);
  if (own)
    __atomic_fetch_add(&stats.own_maps, 1, __ATOMIC_RELAXED);
}

static void count_free(bool own) {
  __atomic_fetch_sub(&stats.in_use, 1, __ATOMIC_RELAXED);
  if (own)
    __atomic_fetch_sub(&stats.own_maps, 1, __ATOMIC_RELAXED);
}

static size_t own_map_len(size_t n) { return (n + page_size - 1) / page_size * page_size; }

int sd_secmem_alloc(size_t n, void **ret, unsigned *ret_cls) {
  pthread_once(&once, init_once);
  if (n == 0 || n > SIZE_MAX / 2)
    return -ENOMEM;
  unsigned c = class_of(n);
  if (c < SD_SECMEM_N_CLASSES) {
    struct klass *k = &classes[c];
    void *p = NULL;
    pthread_mutex_lock(&k->mu);
    if (k->n_free || grow_class(k) == 0)
      p = k->free[--k->n_free];
    pthread_mutex_unlock(&k->mu);
    if (p) {
      UNPOISON(p, k->size);
      count_alloc(false);
      *ret = p;
      *ret_cls = c;
      return 0;
    }
    /* The pool is at its cap (or out of memory): a mapping of its own. */
  }
  uint8_t *p = map_guarded(own_map_len(n));
  if (!p)
    return -ENOMEM;
  count_alloc(true);
  *ret = p;
  *ret_cls = SD_SECMEM_OWN_MAP;
  return 0;
}

void sd_secmem_free(void *p, size_t n, unsigned cls, size_t used) {
  if (!p)
    return;
  if (cls >= SD_SECMEM_N_CLASSES) {
    size_t len = own_map_len(n);
    wipe(p, used < len ? used : len);
    unmap_guarded(p, len);
    count_free(true);
    return;
  }
  struct klass *k = &classes[cls];
  wipe(p, used < k->size ? used : k->size);
  POISON(p, k->size);
  pthread_mutex_lock(&k->mu);
  /* Never more pushes than slots: the stack was sized for every slot. */
  if (k->n_free < k->cap_free)
    k->free[k->n_free++] = p;
  pthread_mutex_unlock(&k->mu);
  count_free(false);
}

bool sd_secmem_forked(void) { return forked; }

void sd_secmem_get_stats(struct sd_secmem_stats *ret) {
  pthread_mutex_lock(&stats_mu);
  ret->arena_bytes = stats.arena_bytes;
  pthread_mutex_unlock(&stats_mu);
  ret->in_use = __atomic_load_n(&stats.in_use, __ATOMIC_RELAXED);
  ret->own_maps = __atomic_load_n(&stats.own_maps, __ATOMIC_RELAXED);
  ret->lock_failures = __atomic_load_n(&stats.lock_failures, __ATOMIC_RELAXED);
}

void sd_secmem_set_pool_max(size_t bytes) {
  pthread_mutex_lock(&stats_mu);
  pool_max = bytes ? bytes : SD_SECMEM_POOL_MAX;
  pthread_mutex_unlock(&stats_mu);
}
