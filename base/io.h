/* Small I/O helpers shared by every module. */
#pragma once

#include <stddef.h>

/* Write all n bytes to fd, retrying on EINTR and short writes.
 * Returns 0 or a negative errno (-ENOSPC on a full disk). */
int sd_write_all(int fd, const void *p, size_t n);

/* Read up to n bytes from fd into p, retrying on EINTR and short reads until
 * n bytes or end of file. Returns the count read (< n: end of file came
 * first) or a negative errno. */
long sd_read_full(int fd, void *p, size_t n);
