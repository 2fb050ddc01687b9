/* Streaming JSON writer in json-c's layout (json_stream.h). */
#include "image/json_stream.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void jstream_init(struct jstream *w, FILE *f, unsigned flags) {
  memset(w, 0, sizeof *w);
  w->f = f;
  w->flags = flags;
}

static void indent(struct jstream *w, int level) {
  static const char spaces[] = "                                ";
  for (int n = level * 2; n > 0; n -= (int)(sizeof spaces - 1))
    fwrite(spaces, 1, n < (int)(sizeof spaces - 1) ? (size_t)n : sizeof spaces - 1, w->f);
}

/* Before a value or a key: the separator from the previous member and the
 * indent; nothing after a key (its value follows the colon). */
static void before_item(struct jstream *w) {
  if (w->after_key) {
    w->after_key = false;
    return;
  }
  if (w->had[w->depth]) {
    putc(',', w->f);
    if (w->flags & JSTREAM_PRETTY)
      putc('\n', w->f);
  }
  w->had[w->depth] = true;
  if (w->flags & JSTREAM_PRETTY)
    indent(w, w->depth);
}

static void begin(struct jstream *w, char open) {
  before_item(w);
  if (w->depth >= JSTREAM_DEPTH)
    abort();
  putc(open, w->f);
  if (w->flags & JSTREAM_PRETTY)
    putc('\n', w->f);
  w->had[++w->depth] = false;
}

static void end(struct jstream *w, char close) {
  if (w->depth <= 0)
    abort();
  if (w->flags & JSTREAM_PRETTY) {
    if (w->had[w->depth])
      putc('\n', w->f);
    indent(w, w->depth - 1);
  }
  w->depth--;
  putc(close, w->f);
}

void jstream_begin_object(struct jstream *w) { begin(w, '{'); }
void jstream_end_object(struct jstream *w) { end(w, '}'); }
void jstream_begin_array(struct jstream *w) { begin(w, '['); }
void jstream_end_array(struct jstream *w) { end(w, ']'); }

/* s quoted and escaped as json-c's json_escape_str() does it */
static void quoted(struct jstream *w, const char *s) {
  static const char hex[] = "0123456789abcdef";
  putc('"', w->f);
  const char *run = s;
  for (const unsigned char *p = (const unsigned char *)s;; p++) {
    unsigned char c = *p;
    const char *esc = NULL;
    char u[7];
    if (c >= 0x20 && c != '"' && c != '\\' && (c != '/' || !(w->flags & JSTREAM_ESCAPE_SLASH)))
      continue;
    if (c)
      switch (c) {
      case '\b': esc = "\\b"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      case '\f': esc = "\\f"; break;
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '/': esc = "\\/"; break;
      default:
        memcpy(u, "\\u00", 4);
        u[4] = hex[c >> 4];
        u[5] = hex[c & 0xf];
        u[6] = '\0';
        esc = u;
      }
    fwrite(run, 1, (size_t)((const char *)p - run), w->f);
    if (!c)
      break;
    fputs(esc, w->f);
    run = (const char *)p + 1;
  }
  putc('"', w->f);
}

void jstream_key(struct jstream *w, const char *key) {
  before_item(w);
  quoted(w, key);
  putc(':', w->f);
  w->after_key = true;
}

void jstream_string(struct jstream *w, const char *s) {
  if (!s) {
    jstream_null(w);
    return;
  }
  before_item(w);
  quoted(w, s);
}

void jstream_int(struct jstream *w, int64_t v) {
  before_item(w);
  fprintf(w->f, "%" PRId64, v);
}

void jstream_bool(struct jstream *w, bool v) {
  before_item(w);
  fputs(v ? "true" : "false", w->f);
}

void jstream_null(struct jstream *w) {
  before_item(w);
  fputs("null", w->f);
}

void jstream_kv_string(struct jstream *w, const char *key, const char *s) {
  jstream_key(w, key);
  jstream_string(w, s);
}

void jstream_kv_int(struct jstream *w, const char *key, int64_t v) {
  jstream_key(w, key);
  jstream_int(w, v);
}

void jstream_kv_bool(struct jstream *w, const char *key, bool v) {
  jstream_key(w, key);
  jstream_bool(w, v);
}

void jstream_key_object(struct jstream *w, const char *key) {
  jstream_key(w, key);
  jstream_begin_object(w);
}

void jstream_key_array(struct jstream *w, const char *key) {
  jstream_key(w, key);
  jstream_begin_array(w);
}
