/* Small I/O helpers shared by every module. */
#pragma once

#include <stddef.h>

/* Write all n bytes to fd, retrying on EINTR and short writes.
 * Returns 0 or a negative errno (-ENOSPC on a full disk). */
int sd_write_all(int fd, const void *p, size_t n);
