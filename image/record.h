/*
 * The record of an image's files and its verification. At import, every file
 * of the rootfs gets one line in files.rec, sorted by path:
 *   <path> <type d|f|l|p> <mode 4 octal> <uid> <gid> <size> <sha256 hex|->
 * (path bytes below 0x21, above 0x7e and '%' are written %XX; a symlink's hash
 * is that of its target). files.mac holds keyed BLAKE2b-256 (libsodium
 * crypto_generichash, key = STORE/hostkey) over a domain string, the manifest
 * hex and the record, so that the record cannot be edited to match a changed tree
 * without the host key.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "image/err.h"
#include "image/store.h"

enum img_change { IMG_CHANGED, IMG_ADDED, IMG_REMOVED };
typedef void (*img_change_fn)(void *ctx, enum img_change what, const char *path);

/* Check image hex: the record's MAC, manifest.json against hex, config.json
 * against the manifest; with deep, re-hash the stored tree and call fn for
 * each path changed, added or removed (in path order). Returns 0 when intact,
 * -EBADMSG when anything differs (*ret_changes says how many paths; err says
 * what else), -ENOENT, -errno. */
int img_verify(struct img_store *s, const char *hex, bool deep, img_change_fn fn, void *ctx,
               size_t *ret_changes, struct img_err *err);

/* Build the record text of the tree at rootfd (malloc'd, NUL-terminated).
 * Returns 0, -ENOMEM, -errno. Exposed for tests. */
int img_record_build(int rootfd, char **ret, size_t *ret_len, uint64_t *ret_files,
                     uint64_t *ret_bytes);
