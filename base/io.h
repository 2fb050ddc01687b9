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

/* Read all of fd (at most max bytes) into a new malloc'd buffer with a NUL
 * after the data. On success *ret owns the buffer and *ret_len (when not NULL)
 * is the data length. Returns 0, -EFBIG when fd holds more than max bytes,
 * -ENOMEM, or a negative read errno; *ret is untouched on failure. */
int sd_read_all_alloc(int fd, size_t max, char **ret, size_t *ret_len);
