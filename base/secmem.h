/*
 * The pool behind struct secbuf (base/secbuf.h): raw blocks of secret memory.
 * Callers outside base/ use secbuf; this header is for secbuf.c, tests and
 * diagnostics.
 *
 * Small blocks (up to SD_SECMEM_MAX_CLASS bytes) come from size classes
 * (64 B .. 16 KiB, powers of two) carved out of arenas of SD_SECMEM_ARENA
 * bytes. Each arena is one anonymous mapping with a PROT_NONE guard page on
 * either side, mlock()ed, MADV_DONTDUMP (never in a core dump) and
 * MADV_WIPEONFORK (a forked child sees zeros, not the parent's secrets).
 * Larger blocks, and every block once the pool holds SD_SECMEM_POOL_MAX bytes
 * of arenas, get a mapping of their own with the same properties. The free
 * lists live outside the arenas (ordinary heap), so a stray write into freed
 * secret memory cannot steer the allocator.
 *
 * mlock() is best effort: where RLIMIT_MEMLOCK forbids it (an unprivileged
 * CLI) the block is still handed out and the failure is counted in
 * sd_secmem_stats. Thread-safe (one mutex per size class); fork-safe (the
 * locks are held across fork and the child re-locks its arenas).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SD_SECMEM_MIN_CLASS 64u
#define SD_SECMEM_MAX_CLASS (16u * 1024u)
#define SD_SECMEM_N_CLASSES 9u
#define SD_SECMEM_ARENA (256u * 1024u)
#define SD_SECMEM_POOL_MAX (64u * 1024u * 1024u)
/* The class index of a block that has a mapping of its own. */
#define SD_SECMEM_OWN_MAP SD_SECMEM_N_CLASSES

/*
 * Allocate a block of at least n bytes (n > 0), all zero. On success *ret is
 * the block and *ret_cls the value to give back to sd_secmem_free. Returns 0
 * or -ENOMEM (n too large for the address space, or mmap failed).
 */
int sd_secmem_alloc(size_t n, void **ret, unsigned *ret_cls);

/*
 * Wipe the first `used` bytes of block p (the caller knows how many it wrote;
 * the rest is still zero) and give it back. n and cls are what
 * sd_secmem_alloc was given and returned. NULL p is fine.
 */
void sd_secmem_free(void *p, size_t n, unsigned cls, size_t used);

/* True in a process forked from the one that made the pool (its arenas were
 * zeroed by MADV_WIPEONFORK, so blocks inherited from the parent hold zeros). */
bool sd_secmem_forked(void);

struct sd_secmem_stats {
  size_t arena_bytes;    /* bytes of arenas mapped (guard pages excluded) */
  size_t in_use;         /* blocks handed out and not freed, pool and own mappings */
  size_t own_maps;       /* of those, blocks with a mapping of their own */
  size_t lock_failures;  /* mappings that mlock() refused (still in use, unlocked) */
};
void sd_secmem_get_stats(struct sd_secmem_stats *ret);

/* Tests only: cap the bytes of arenas (0: the default SD_SECMEM_POOL_MAX).
 * Blocks over the cap get mappings of their own. */
void sd_secmem_set_pool_max(size_t bytes);
