/*
 * The installed Debian packages of a root filesystem: dpkg's database
 * (var/lib/dpkg/status, and var/lib/dpkg/status.d/ as distroless images keep
 * it, one control stanza per file) and the release from etc/os-release.
 *
 * Every file is opened inside the root with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS): symlinks (absolute ones too, and "..") resolve
 * within the root, never on the host. Inputs are hostile: sizes and field
 * lengths are capped, malformed stanzas are refused with the line number.
 *
 * A package counts when its Status is "<want> ok installed" (any selection:
 * install, hold, deinstall, purge; flag ok; state installed), or, in a
 * status.d file, when the stanza has no Status field at all (distroless writes
 * bare control stanzas). Its source is Source's name (default: the package's
 * own name) and Source's "(version)" (binNMUs; default: the package's version).
 */
#pragma once

#include <stddef.h>

#include "image/err.h"

#define DPKG_STATUS_MAX (64u << 20)   /* var/lib/dpkg/status, bytes */
#define DPKG_STATUS_D_MAX (1u << 20)  /* one status.d file, bytes */
#define DPKG_STATUS_D_FILES 100000u   /* files in status.d */
#define DPKG_MAX_PACKAGES 200000u     /* installed packages in one root */
#define DPKG_NAME_MAX 128             /* package and source names, bytes */
#define DPKG_ARCH_MAX 64              /* architecture, bytes */
#define DPKG_OS_FIELD_MAX 128         /* an os-release value, bytes */
#define DPKG_OS_RELEASE_MAX (64u << 10)

/* One installed binary package; strings are NUL-terminated, owned by the db. */
struct dpkg_pkg {
  const char *name;
  const char *version;
  const char *arch;           /* "" when the stanza has none */
  const char *source;         /* source package name */
  const char *source_version; /* source package version */
};

struct dpkg_os {
  char id[DPKG_OS_FIELD_MAX + 1];          /* "debian"; "" if unknown */
  char version_id[DPKG_OS_FIELD_MAX + 1];  /* "12"; "" for testing/sid */
  char codename[DPKG_OS_FIELD_MAX + 1];    /* "bookworm"; "" if unknown */
  char pretty_name[DPKG_OS_FIELD_MAX + 1];
};

struct dpkg_db {
  struct dpkg_pkg *pkgs; /* sorted by name, then arch */
  size_t n;
  size_t cap;
  struct dpkg_os os;
  int has_os; /* an os-release file was found */
};

/* Parsing flags. */
#define DPKG_PARSE_NO_STATUS_IS_INSTALLED 1u /* status.d: a stanza without Status counts */

/*
 * Parse len bytes of dpkg status format (stanzas of "Field: value" lines,
 * separated by blank lines; continuation lines start with a space or tab) and
 * append the installed packages to db (zero-initialised or from an earlier
 * call). Returns the number of packages added, or -EBADMSG (malformed: no
 * field name, NUL byte, a kept field continued or repeated, an installed
 * package without Package or Version, an invalid name, version or Source),
 * -E2BIG (a field or the package count over its cap) or -ENOMEM, with a
 * message naming the line in err. On error db keeps the packages it had.
 */
int dpkg_status_parse(struct dpkg_db *db, const char *buf, size_t len, unsigned flags,
                      struct img_err *err);

/*
 * Parse os-release (KEY=value lines, values bare or quoted with " or ' and
 * backslash escapes in double quotes; other lines are ignored, as the format
 * asks) into *ret: ID, VERSION_ID, VERSION_CODENAME, PRETTY_NAME, each cut
 * to DPKG_OS_FIELD_MAX. Never fails.
 */
void dpkg_os_release_parse(const char *buf, size_t len, struct dpkg_os *ret);

/*
 * Load the database and os-release of the root filesystem at rootfd (a
 * directory fd, O_PATH is fine). On success *ret_db is the caller's, freed
 * with dpkg_db_free(). Returns 0; -ENOPKG when the root has neither
 * var/lib/dpkg/status nor var/lib/dpkg/status.d (no package database: the
 * caller must report that, not "no findings"); -EFBIG for a file over its
 * cap; -ELOOP, -EXDEV, -EACCES ... from the lookup (a symlink loop stays an
 * error); -ENOSYS without openat2 (Linux < 5.6); the parse errors above.
 * err names the file.
 */
int dpkg_db_load_at(int rootfd, struct dpkg_db **ret_db, struct img_err *err);

/* The same for a root directory path. */
int dpkg_db_load(const char *rootdir, struct dpkg_db **ret_db, struct img_err *err);

/* Find name (first architecture in sort order), or NULL. */
const struct dpkg_pkg *dpkg_db_find(const struct dpkg_db *db, const char *name);

/* Sort the packages (name, then arch); the loaders do it already. */
void dpkg_db_sort(struct dpkg_db *db);

/* Free the packages of a db filled by dpkg_status_parse() and reset it. */
void dpkg_db_clear(struct dpkg_db *db);

/* Free a db from dpkg_db_load*(); NULL is fine. */
void dpkg_db_free(struct dpkg_db *db);
