/* Stream parser of the Debian Security Tracker JSON (see vulndb_tracker.h). */
#include "image/vulndb_tracker.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "base/macro.h"
#include "image/dpkg_version.h"
#include "image/vulndb_internal.h"

/* --- the parse state --- */

enum key { K_OTHER, K_RELEASES, K_BUG, K_STATUS, K_FIXED, K_URGENCY, K_NODSA, K_NODSA_REASON };

struct pctx {
  int depth; /* open objects on the path we follow: 1 top, 2 source, 3 issue, 4 releases, 5 release */
  int skip;  /* > 0: inside a container we ignore */
  enum key key;
  char source[VULNDB_NAME_MAX + 1], issue[VULNDB_NAME_MAX + 1], release[VULNDB_NAME_MAX + 1];
  struct vt_rec cur;
  bool has_status;
  size_t issue_first;
  uint32_t bug;
  struct vt_builder b;
  struct img_err *err;
  int r;
};

static int fail(struct pctx *c, int r, const char *fmt, const char *what) {
  char m[256];
  snprintf(m, sizeof m, fmt, what);
  c->r = img_fail(c->err, r, "%s%s%s%s%s: %s", c->source, c->issue[0] ? " " : "", c->issue,
                  c->release[0] ? " " : "", c->release, m);
  return 0; /* cancels the parse */
}

static bool printable(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] == 0x7f)
      return false;
  return true;
}

static bool keycpy(char dst[VULNDB_NAME_MAX + 1], const unsigned char *s, size_t n) {
  if (n == 0 || n > VULNDB_NAME_MAX || !printable(s, n))
    return false;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return true;
}

static int scalar(struct pctx *c) {
  if (c->skip)
    return 1;
  switch (c->depth) {
  case 0:
    return fail(c, -EBADMSG, "%s", "the top level is not an object");
  case 3:
    return c->key == K_RELEASES ? fail(c, -EBADMSG, "%s", "\"releases\" is not an object") : 1;
  case 5:
    if (c->key == K_OTHER)
      return 1;
    return fail(c, -EBADMSG, "%s", "a release field that is not a string");
  default:
    return fail(c, -EBADMSG, "%s", "a value that is not an object");
  }
}

static int on_null(void *ctx) {
  struct pctx *c = ctx;
  if (!c->skip && c->depth == 5)
    return 1; /* null: absent */
  return scalar(c);
}

static int on_bool(void *ctx, int b) { return scalar(ctx); }

static int on_number(void *ctx, const char *s, size_t n) {
  struct pctx *c = ctx;
  if (!c->skip && c->depth == 3 && c->key == K_BUG) {
    uint64_t v = 0;
    for (size_t i = 0; i < n && v <= UINT32_MAX; i++) {
      if (s[i] < '0' || s[i] > '9')
        return fail(c, -EBADMSG, "%s", "\"debianbug\" is not a bug number");
      v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > UINT32_MAX)
      return fail(c, -EBADMSG, "%s", "\"debianbug\" is too big");
    c->bug = (uint32_t)v;
    return 1;
  }
  return scalar(c);
}

static const char *const urgencies[VULNDB_URG_COUNT] = {
    [VULNDB_URG_UNKNOWN] = "unknown",
    [VULNDB_URG_NOT_YET_ASSIGNED] = "not yet assigned",
    [VULNDB_URG_UNIMPORTANT] = "unimportant",
    [VULNDB_URG_LOW] = "low",
    [VULNDB_URG_MEDIUM] = "medium",
    [VULNDB_URG_HIGH] = "high",
    [VULNDB_URG_END_OF_LIFE] = "end-of-life"};

static int on_string(void *ctx, const unsigned char *s, size_t n) {
  struct pctx *c = ctx;
  if (c->skip || c->depth != 5 || c->key == K_OTHER)
    return scalar(c);
  switch (c->key) {
  case K_STATUS:
    if (n == 8 && !memcmp(s, "resolved", 8))
      c->cur.status = VULNDB_RESOLVED;
    else if (n == 4 && !memcmp(s, "open", 4))
      c->cur.status = VULNDB_OPEN;
    else if (n == 12 && !memcmp(s, "undetermined", 12))
      c->cur.status = VULNDB_UNDETERMINED;
    else
      return fail(c, -EBADMSG, "%s", "unknown \"status\"");
    c->has_status = true;
    return 1;
  case K_FIXED: {
    struct dpkg_version v;
    struct img_err verr = {0};
    if (dpkg_version_parse((const char *)s, n, &v, &verr) < 0)
      return fail(c, -EBADMSG, "\"fixed_version\": %s", verr.msg);
    int r = vt_intern(&c->b.in, (const char *)s, n, &c->cur.fixed);
    return r < 0 ? fail(c, r, "%s", "out of memory") : 1;
  }
  case K_URGENCY: {
    while (n && s[n - 1] == '*')
      n--;
    c->cur.urgency = VULNDB_URG_UNKNOWN;
    for (int u = 1; u < VULNDB_URG_COUNT; u++)
      if (strlen(urgencies[u]) == n && !memcmp(s, urgencies[u], n))
        c->cur.urgency = (uint8_t)u;
    return 1;
  }
  case K_NODSA:
    if (c->cur.nodsa == VULNDB_NODSA_NONE)
      c->cur.nodsa = VULNDB_NODSA_YES;
    return 1;
  case K_NODSA_REASON:
    if (n == 9 && !memcmp(s, "postponed", 9))
      c->cur.nodsa = VULNDB_NODSA_POSTPONED;
    else if (n == 7 && !memcmp(s, "ignored", 7))
      c->cur.nodsa = VULNDB_NODSA_IGNORED;
    else if (n && c->cur.nodsa == VULNDB_NODSA_NONE)
      c->cur.nodsa = VULNDB_NODSA_YES;
    return 1;
  default:
    return 1;
  }
}

static int on_key(void *ctx, const unsigned char *s, size_t n) {
  struct pctx *c = ctx;
  if (c->skip)
    return 1;
  c->key = K_OTHER;
#define IS(lit) (n == sizeof(lit) - 1 && !memcmp(s, lit, n))
  switch (c->depth) {
  case 1:
    c->issue[0] = c->release[0] = '\0';
    if (!keycpy(c->source, s, n))
      return fail(c, -EBADMSG, "%s", "invalid source package name");
    break;
  case 2:
    c->release[0] = '\0';
    if (!keycpy(c->issue, s, n))
      return fail(c, -EBADMSG, "%s", "invalid issue id");
    break;
  case 3:
    c->key = IS("releases") ? K_RELEASES : IS("debianbug") ? K_BUG : K_OTHER;
    break;
  case 4:
    if (!keycpy(c->release, s, n))
      return fail(c, -EBADMSG, "%s", "invalid release name");
    break;
  case 5:
    c->key = IS("status")          ? K_STATUS
             : IS("fixed_version") ? K_FIXED
             : IS("urgency")       ? K_URGENCY
             : IS("nodsa")         ? K_NODSA
             : IS("nodsa_reason")  ? K_NODSA_REASON
                                   : K_OTHER;
    break;
  }
#undef IS
  return 1;
}

static int on_start_map(void *ctx) {
  struct pctx *c = ctx;
  if (c->skip) {
    c->skip++;
    return 1;
  }
  switch (c->depth) {
  case 2:
    c->issue_first = c->b.n;
    c->bug = 0;
    break;
  case 3:
    if (c->key != K_RELEASES) {
      c->skip = 1;
      return 1;
    }
    break;
  case 4:
    memset(&c->cur, 0, sizeof c->cur);
    c->cur.fixed = c->cur.introduced = c->cur.aliases = c->cur.affected = VT_NONE;
    c->cur.origin = VULNDB_FROM_TRACKER;
    c->has_status = false;
    break;
  case 5:
    if (c->key != K_OTHER)
      return fail(c, -EBADMSG, "%s", "a release field that is not a string");
    c->skip = 1;
    return 1;
  }
  c->depth++;
  return 1;
}

static int on_start_array(void *ctx) {
  struct pctx *c = ctx;
  if (c->skip || ((c->depth == 3 || c->depth == 5) && c->key == K_OTHER)) {
    c->skip++;
    return 1;
  }
  return fail(c, -EBADMSG, "%s", "an array where an object belongs");
}

static int on_end_array(void *ctx) {
  struct pctx *c = ctx;
  c->skip--;
  return 1;
}

static int add_record(struct pctx *c) {
  int r;
  if (!c->has_status)
    return fail(c, -EBADMSG, "%s", "no \"status\"");
  if (c->cur.status == VULNDB_RESOLVED && c->cur.fixed == VT_NONE)
    return fail(c, -EBADMSG, "%s", "resolved without \"fixed_version\"");
  if ((r = vt_intern(&c->b.in, c->release, strlen(c->release), &c->cur.release)) < 0 ||
      (r = vt_intern(&c->b.in, c->source, strlen(c->source), &c->cur.source)) < 0 ||
      (r = vt_intern(&c->b.in, c->issue, strlen(c->issue), &c->cur.issue)) < 0)
    return fail(c, r, "%s", "out of memory or too many strings");
  if ((r = vt_builder_add(&c->b, &c->cur)) < 0)
    return fail(c, r, "%s", r == -E2BIG ? "too many records" : "out of memory");
  return 1;
}

static int on_end_map(void *ctx) {
  struct pctx *c = ctx;
  if (c->skip) {
    c->skip--;
    return 1;
  }
  c->depth--;
  switch (c->depth) {
  case 4:
    c->key = K_OTHER;
    if (!add_record(c))
      return 0;
    c->release[0] = '\0';
    return 1;
  case 2:
    for (size_t i = c->issue_first; i < c->b.n; i++)
      c->b.recs[i].debianbug = c->bug;
    c->issue[0] = '\0';
    return 1;
  case 1:
    c->source[0] = '\0';
    return 1;
  default:
    return 1;
  }
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

struct parser {
  yajl_handle h;
  struct pctx c;
  uint64_t total;
};

static void parser_free(struct parser *p) {
  if (p->h)
    yajl_free(p->h);
  vt_builder_free(&p->c.b);
}

/* Feed a chunk; returns 0 or the error. */
static int feed(struct parser *p, const unsigned char *buf, size_t len) {
  p->total += len;
  if (p->total > VULNDB_INPUT_MAX)
    return img_fail(p->c.err, -E2BIG, "tracker data larger than %llu bytes",
                    (unsigned long long)VULNDB_INPUT_MAX);
  yajl_status s = len ? yajl_parse(p->h, buf, len) : yajl_complete_parse(p->h);
  if (s == yajl_status_ok)
    return 0;
  if (s == yajl_status_client_canceled)
    return p->c.r ? p->c.r : img_fail(p->c.err, -EBADMSG, "parse canceled");
  /* yajl's own message, without the verbose excerpt of the input */
  unsigned char *m = yajl_get_error(p->h, 0, buf, len);
  size_t at = p->total - len + (len ? yajl_get_bytes_consumed(p->h) : 0);
  int r = img_fail(p->c.err, -EBADMSG, "malformed JSON near byte %zu: %s", at,
                   m ? (const char *)m : "?");
  if (m)
    yajl_free_error(p->h, m);
  if (!len)
    img_err_prefix(p->c.err, "truncated or incomplete: ");
  return r;
}

static int parser_init(struct parser *p, struct img_err *err) {
  memset(p, 0, sizeof *p);
  p->c.err = err;
  p->h = yajl_alloc(&callbacks, NULL, &p->c);
  if (!p->h)
    return img_fail(err, -ENOMEM, "out of memory");
  /* strict JSON: no comments, UTF-8 checked, one value, nothing after it */
  yajl_config(p->h, yajl_allow_comments, 0);
  yajl_config(p->h, yajl_dont_validate_strings, 0);
  return 0;
}

static int parser_finish(struct parser *p, struct vulndb_tracker **ret_t) {
  int r;
  if ((r = feed(p, NULL, 0)) < 0)
    return r;
  if (p->c.b.n == 0)
    return img_fail(p->c.err, -EBADMSG, "no entries: not Security Tracker data?");
  return vt_builder_finish(&p->c.b, ret_t, p->c.err);
}

int vulndb_tracker_parse_buf(const char *buf, size_t len, struct vulndb_tracker **ret_t,
                             struct img_err *err) {
  struct parser p;
  int r = parser_init(&p, err);
  if (r == 0 && len)
    r = feed(&p, (const unsigned char *)buf, len);
  if (r == 0)
    r = parser_finish(&p, ret_t);
  parser_free(&p);
  return r;
}

static int feed_chunk(void *p, const char *buf, size_t len) {
  return feed(p, (const unsigned char *)buf, len);
}

int vulndb_tracker_parse_fd(int fd, struct vulndb_tracker **ret_t, struct img_err *err) {
  struct parser p;
  int r = parser_init(&p, err);
  if (r == 0)
    r = vt_read_stream(fd, feed_chunk, &p, err);
  if (r == 0)
    r = parser_finish(&p, ret_t);
  parser_free(&p);
  return r;
}

const char *vulndb_urgency_name(enum vulndb_urgency u) {
  return (unsigned)u < VULNDB_URG_COUNT ? urgencies[u] : "unknown";
}

const char *vulndb_status_name(enum vulndb_status s) {
  switch (s) {
  case VULNDB_RESOLVED:
    return "resolved";
  case VULNDB_OPEN:
    return "open";
  case VULNDB_UNDETERMINED:
    return "undetermined";
  }
  return "unknown";
}
