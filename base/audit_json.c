#include "audit_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* A bounded writer: once it overflows it stays failed, so callers check once. */
struct out {
  char *buf;
  size_t len, pos;
  bool overflow;
};

static void put_char(struct out *o, char c) {
  if (o->pos + 1 >= o->len) {
    o->overflow = true;
    return;
  }
  o->buf[o->pos++] = c;
}

static void put_raw(struct out *o, const char *s) {
  for (; *s; s++)
    put_char(o, *s);
}

static void put_json_string(struct out *o, const char *s) {
  static const char hex[] = "0123456789abcdef";
  put_char(o, '"');
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
    case '"': put_raw(o, "\\\""); break;
    case '\\': put_raw(o, "\\\\"); break;
    case '\n': put_raw(o, "\\n"); break;
    case '\r': put_raw(o, "\\r"); break;
    case '\t': put_raw(o, "\\t"); break;
    default:
      if (*p < 0x20 || *p == 0x7f) {
        put_raw(o, "\\u00");
        put_char(o, hex[*p >> 4]);
        put_char(o, hex[*p & 0xf]);
      } else {
        put_char(o, (char)*p);
      }
    }
  }
  put_char(o, '"');
}

int audit_time_rfc3339(uint64_t time_ns, char *buf, size_t len) {
  time_t secs = (time_t)(time_ns / 1000000000ull);
  unsigned long nanos = (unsigned long)(time_ns % 1000000000ull);
  struct tm tm;
  if (!gmtime_r(&secs, &tm))
    return -EINVAL;
  int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09luZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
  if (n < 0 || (size_t)n >= len)
    return -ENOBUFS;
  return n;
}

int audit_json_render(const struct audit_fields *f, char *buf, size_t len) {
  struct out o = {.buf = buf, .len = len};
  char num[32], when[40];

  if (!buf || len == 0)
    return -ENOBUFS;
  if (audit_time_rfc3339(f->time_ns, when, sizeof(when)) < 0)
    return -EINVAL;
  snprintf(num, sizeof(num), "%" PRIu64, f->seq);

  put_raw(&o, "{\"seq\":");
  put_raw(&o, num);
  put_raw(&o, ",\"time\":");
  put_json_string(&o, when);
  put_raw(&o, ",\"actor\":");
  put_json_string(&o, f->actor);
  put_raw(&o, ",\"action\":");
  put_json_string(&o, f->action);
  put_raw(&o, ",\"object\":");
  put_json_string(&o, f->object);
  put_raw(&o, ",\"outcome\":");
  put_json_string(&o, f->outcome);
  put_raw(&o, ",\"prev\":");
  put_json_string(&o, f->prev_hex);
  put_raw(&o, ",\"hash\":");
  put_json_string(&o, f->hash_hex);
  put_char(&o, '}');
  if (o.overflow) {
    buf[0] = '\0';
    return -ENOBUFS;
  }
  buf[o.pos] = '\0';
  return (int)o.pos;
}
