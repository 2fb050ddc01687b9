/* Small language helpers shared by every module: cleanup attributes and
 * ownership transfer, in the style of systemd's src/basic. Header only. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _must_check_ __attribute__((warn_unused_result))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hand a pointer (or fd) out of a cleanup-managed variable. */
#define TAKE_PTR(p)                   \
  ({                                  \
    __typeof__(p) _tp_ = (p);         \
    (p) = NULL;                       \
    _tp_;                             \
  })
#define TAKE_FD(fd)                   \
  ({                                  \
    int _tf_ = (fd);                  \
    (fd) = -1;                        \
    _tf_;                             \
  })

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(freep)

/* Close *fd if open and mark it closed (-1), so that a later cleanup of the
 * same variable cannot close a descriptor number reused in the meantime. */
static inline void closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
    *fd = -1;
  }
}
#define _cleanup_close_ _cleanup_(closep)

/* Declare a cleanup helper `namep(T **p)` that calls `fn(*p)` when non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, fn) \
  static inline void fn##p(type *p) {         \
    if (*p)                                   \
      fn(*p);                                 \
  }
