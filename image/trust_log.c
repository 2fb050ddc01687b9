/* The content-trust JSON-lines log (see trust_log.h). */
#include "image/trust_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/store.h"

int trust_log(struct img_store *s, const char *event, json_object *fields) {
  json_object *o = json_object_new_object();
  if (!o) {
    json_object_put(fields);
    return -ENOMEM;
  }
  char t[32] = "?";
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  if (gmtime_r(&now.tv_sec, &tm))
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
  json_object_object_add(o, "time", json_object_new_string(t));
  json_object_object_add(o, "event", json_object_new_string(event));
  if (fields) {
    json_object_object_foreach(fields, k, v) json_object_object_add(o, k, json_object_get(v));
    json_object_put(fields);
  }
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  char line[8192];
  int n = snprintf(line, sizeof line, "%s\n", text ? text : "{}");
  json_object_put(o);
  if (n < 0 || (size_t)n >= sizeof line)
    return -E2BIG;
  _cleanup_close_ int fd = openat(img_store_fd(s), TRUST_LOG_FILE,
                                  O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  return sd_write_all(fd, line, (size_t)n);
}
