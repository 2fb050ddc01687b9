/* Shared between image/'s own files; not part of the library's interface. */
#pragma once

#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>

#include "image/digest.h"
#include "image/err.h"
#include "image/store.h"

/* names/<file> for name:version: the sha256 hex of "name:version". */
void img_name_file(const char *name, const char *version, char out[IMG_HEX_LEN + 1]);

/* Point name:version at hex (atomic replace). Returns 0 or -errno. */
int img_store_set_name(struct img_store *s, const char *name, const char *version,
                       const char *hex);

/* Walk the rootfs under imgfd ("rootfs") and write files.rec and files.mac
 * into imgfd, MAC'd with the host key and bound to hex. Counts into ret_files
 * and ret_bytes. Returns 0 or -errno. */
int img_record_write(struct img_store *s, int imgfd, const char *hex, uint64_t *ret_files,
                     uint64_t *ret_bytes);

/* Open the directory name under dfd (not following a symlink in its last
 * component) for readdir. On success *ret is the caller's to closedir().
 * Returns 0 or -errno (nothing to release on failure). */
int img_opendir_at(int dfd, const char *name, DIR **ret);

/* fstat fd into *ret_st and check it is a regular file of at most max bytes;
 * what names it in err. Returns 0, -errno, -EINVAL (not a regular file) or
 * -EFBIG. */
int img_fstat_regular(int fd, const char *what, size_t max, struct stat *ret_st,
                      struct img_err *err);
