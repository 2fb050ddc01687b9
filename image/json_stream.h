/*
 * A streaming JSON writer: values go straight to a FILE, no document is
 * built (a scan report of ten thousand findings as a json-c DOM costs more
 * than the scan itself). The layout is json-c's (0.16) to the byte, so that
 * output written either way compares equal: JSTREAM_PRETTY is
 * JSON_C_TO_STRING_PRETTY (two-space indent, "key":value, an empty container
 * as "[\n<indent>]"), without it JSON_C_TO_STRING_PLAIN; strings are escaped
 * as json-c escapes them (\" \\ \b \f \n \r \t, other bytes below 0x20 as
 * \u00xx, '/' as \/ only with JSTREAM_ESCAPE_SLASH; other bytes as they are:
 * the caller hands in UTF-8).
 *
 * The writer does not check the grammar beyond its depth limit: callers pair
 * begin/end and give each object member a key. Write errors are the FILE's
 * (ferror); nothing here allocates.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSTREAM_PRETTY 1u
#define JSTREAM_ESCAPE_SLASH 2u
#define JSTREAM_DEPTH 16 /* nesting levels; deeper containers abort() (a caller bug) */

struct jstream {
  FILE *f;
  unsigned flags;
  int depth;                      /* open containers */
  bool had[JSTREAM_DEPTH + 1];    /* the container at each depth has a member already */
  bool after_key;                 /* the next value is an object member's */
};

/* Start writing to f (not owned) with JSTREAM_* flags. */
void jstream_init(struct jstream *w, FILE *f, unsigned flags);

void jstream_begin_object(struct jstream *w);
void jstream_end_object(struct jstream *w);
void jstream_begin_array(struct jstream *w);
void jstream_end_array(struct jstream *w);
/* An object member's key; the next call writes its value. */
void jstream_key(struct jstream *w, const char *key);
/* A string value; NULL writes null. */
void jstream_string(struct jstream *w, const char *s);
void jstream_int(struct jstream *w, int64_t v);
void jstream_bool(struct jstream *w, bool v);
void jstream_null(struct jstream *w);

/* key and value in one call; the _object/_array forms open the value */
void jstream_key_object(struct jstream *w, const char *key);
void jstream_key_array(struct jstream *w, const char *key);
void jstream_kv_string(struct jstream *w, const char *key, const char *s);
void jstream_kv_int(struct jstream *w, const char *key, int64_t v);
void jstream_kv_bool(struct jstream *w, const char *key, bool v);
