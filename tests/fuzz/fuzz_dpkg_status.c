/*
 * Fuzz image/dpkg_status's parsers: the status format (both flag settings,
 * chosen by the first byte) and os-release. On success every kept package
 * must have a valid name, version and source version; on failure the db must
 * hold no package of the failed call and the error must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/dpkg_status.h"
#include "image/dpkg_version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned flags = (data[0] & 1) ? DPKG_PARSE_NO_STATUS_IS_INSTALLED : 0;
  const char *buf = (const char *)data + 1;
  size_t len = size - 1;
  struct dpkg_db db = {0};
  struct img_err err = {0};
  int r = dpkg_status_parse(&db, buf, len, flags, &err);
  if (r < 0) {
    if (db.n != 0 || !err.msg[0])
      abort();
  } else {
    if ((size_t)r != db.n)
      abort();
    dpkg_db_sort(&db);
    for (size_t i = 0; i < db.n; i++) {
      struct dpkg_version v;
      const struct dpkg_pkg *p = &db.pkgs[i];
      if (!p->name[0] || !p->source[0] || strlen(p->name) > DPKG_NAME_MAX)
        abort();
      if (dpkg_version_parse_str(p->version, &v, NULL) < 0 ||
          dpkg_version_parse_str(p->source_version, &v, NULL) < 0)
        abort();
      if (!dpkg_db_find(&db, p->name))
        abort();
    }
  }
  dpkg_db_clear(&db);

  struct dpkg_os os;
  dpkg_os_release_parse(buf, len, &os);
  for (const char *s = os.id; *s; s++)
    if ((unsigned char)*s < 0x20)
      abort();
  return 0;
}
