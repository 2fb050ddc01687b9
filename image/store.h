/*
 * The image store: a root-only (0700) directory, keyed by manifest digest.
 *
 *   STORE/lock                 flock: shared by import/launch, exclusive by rm/gc
 *   STORE/hostkey              the host's 32-byte record key (token file, 0600)
 *   STORE/images/<hex>/        one image: rootfs/, manifest.json, config.json,
 *                              files.rec (record of every file), files.mac, info
 *   STORE/names/<sha256(ref)>  "<hex>\n<name>:<version>\n", replaced atomically
 *   STORE/tmp/                 imports in progress (flock'ed) and removals
 *   STORE/inuse/<hex>.<pid>.<n> use markers: a launcher holds a shared flock on
 *                              its marker while its container runs; gc keeps an
 *                              image with a locked marker and removes unlocked
 *                              (stale) markers.
 * An image becomes visible by one rename(2) of a complete directory, after
 * syncfs(2); a name appears only after its image. Not thread-safe; processes
 * coordinate through STORE/lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/macro.h"

#include "image/digest.h"
#include "image/err.h"
#include "image/oci.h"
#include "image/unpack.h"

#define IMG_DEFAULT_STORE "/var/lib/secretd/images"
#define IMG_STORE_ENV "SECRET_IMAGE_STORE"
#define IMG_MAX_NAME 200

struct img_store;

/* The store path to use: opt if not NULL, else $SECRET_IMAGE_STORE, else the default. */
const char *img_store_path(const char *opt);

/* Open (create=true: create, 0700) the store at path. Refuses a store that is a
 * symlink, not owned by us or open to group/others (-EPERM, err says how to
 * fix). Returns 0, -ENOENT (absent and !create), -EPERM, -errno. */
int img_store_open(const char *path, bool create, struct img_store **ret, struct img_err *err);
void img_store_free(struct img_store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct img_store *, img_store_free)

/* The store's directory fd and path (owned by the store). */
int img_store_fd(const struct img_store *s);
const char *img_store_dir(const struct img_store *s);

/* Split "NAME[:VERSION]" (VERSION defaults to "latest") and validate both.
 * Returns 0 or -EINVAL. */
int img_ref_parse(const char *ref, char name[IMG_MAX_NAME + 1], char version[129]);

/* Resolve NAME[:VERSION], NAME@sha256:HEX or sha256:HEX to the manifest hex of
 * a stored image. Returns 0, -ENOENT (err names what is missing), -EINVAL. */
int img_store_resolve(struct img_store *s, const char *ref, char hex[IMG_HEX_LEN + 1],
                      struct img_err *err);

struct img_import_opts {
  const char *name; /* "NAME[:VERSION]" or NULL (the source's base name) */
  struct img_limits limits;
};

struct img_import_result {
  char hex[IMG_HEX_LEN + 1];
  char ref[IMG_MAX_NAME + 130];
  bool existed; /* the image was already stored: only the name was set */
  struct img_unpack_stats stats;
};

/* Import the layout directory or oci-archive at path (see import.c for the
 * steps). Returns 0 or a negative errno with err filled; on failure nothing is
 * visible in the store. */
int img_import(struct img_store *s, const char *path, const struct img_import_opts *o,
               struct img_import_result *ret, struct img_err *err);

struct img_entry {
  char ref[IMG_MAX_NAME + 130]; /* "name:version", or "" for an image without a name */
  char hex[IMG_HEX_LEN + 1];
  time_t created;
  uint64_t bytes, files;
  bool in_use;
};

/* Every name, then every image without a name. *ret is malloc'd. */
int img_store_list(struct img_store *s, struct img_entry **ret, size_t *ret_n);

/* Remove the name ref; the image goes with its last name unless in use (then
 * gc removes it later). *ret_removed tells whether the image went. Returns 0,
 * -ENOENT, -errno. */
int img_store_remove(struct img_store *s, const char *ref, bool *ret_removed, struct img_err *err);

/* Remove images without a name that no running container uses, stale markers
 * and stale temporary directories. fn (may be NULL) is told each removed hex. */
int img_store_gc(struct img_store *s, void (*fn)(void *, const char *hex), void *ctx);

/* True if a live launcher holds a marker for hex. */
bool img_store_in_use(struct img_store *s, const char *hex);

/* Create a use marker for hex and hold a shared lock on it. Returns an fd
 * (O_CLOEXEC; the lock lasts while it, or a dup, is open) and the marker's
 * name under STORE/inuse in ret_marker (for img_store_unmark), or -errno.
 * Fails with -ENOENT if the image was removed meanwhile. */
int img_store_mark_in_use(struct img_store *s, const char *hex, char ret_marker[128]);
void img_store_unmark(struct img_store *s, const char *marker);

/* Read the image's info file. Returns 0 or -errno. */
int img_store_info(struct img_store *s, const char *hex, struct img_entry *ret);

/* Read the image's config (verified against the manifest: see record.h for
 * the deep check). Returns 0, -ENOENT, -EBADMSG, -EINVAL. */
int img_store_config(struct img_store *s, const char *hex, struct img_config *ret,
                     struct img_err *err);

/* Internal to image/: the store's lock in mode LOCK_SH or LOCK_EX; returns an
 * fd to close, or -errno. */
int img_store_lock(struct img_store *s, int mode);
/* Internal: read STORE/hostkey; with create, make it on first use (imports
 * only: a verify never replaces a missing key). -EPERM unless a regular file
 * of ours with mode 0600 or stricter. */
struct sd_key;
int img_store_hostkey(struct img_store *s, bool create, struct sd_key **ret);
