/* See http_reply.h. Every read is bounded by the buffer's end. */
#include "bench/http_reply.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* The CRLF at or after p before end, or NULL. */
static const char *find_crlf(const char *p, const char *end) {
  for (; p + 1 < end; p++)
    if (p[0] == '\r' && p[1] == '\n')
      return p;
  return NULL;
}

/* Parse all of [p, end) as a number in base 10 or 16 (at least one digit,
 * value <= HTTP_REPLY_MAX_BODY). 0 or -EPROTO. */
static int parse_num(const char *p, const char *end, unsigned base, size_t *ret) {
  size_t v = 0;
  if (p == end)
    return -EPROTO;
  for (; p < end; p++) {
    unsigned d;
    if (*p >= '0' && *p <= '9')
      d = (unsigned)(*p - '0');
    else if (base == 16 && *p >= 'a' && *p <= 'f')
      d = (unsigned)(*p - 'a' + 10);
    else if (base == 16 && *p >= 'A' && *p <= 'F')
      d = (unsigned)(*p - 'A' + 10);
    else
      return -EPROTO;
    v = v * base + d;
    if (v > HTTP_REPLY_MAX_BODY)
      return -EPROTO;
  }
  *ret = v;
  return 0;
}

/* Trim spaces and tabs at both ends of [*p, *end). */
static void trim(const char **p, const char **end) {
  while (*p < *end && (**p == ' ' || **p == '\t'))
    (*p)++;
  while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
    (*end)--;
}

static bool token_is(const char *p, const char *end, const char *tok) {
  size_t n = strlen(tok);
  return (size_t)(end - p) == n && strncasecmp(p, tok, n) == 0;
}

static void body_add(char *body, size_t body_cap, struct http_reply *r, const char *p, size_t n) {
  size_t room = body_cap - 1 - r->body_len;
  if (n > room) {
    r->truncated = true;
    n = room;
  }
  memcpy(body + r->body_len, p, n);
  r->body_len += n;
}

/* Chunked body at [p, lim): 1 with *ret_end past it, 0 incomplete, -EPROTO. */
static int parse_chunked(const char *p, const char *lim, char *body, size_t body_cap,
                         struct http_reply *r, const char **ret_end) {
  for (;;) {
    const char *eol = find_crlf(p, lim);
    if (!eol)
      return 0;
    const char *num_end = memchr(p, ';', (size_t)(eol - p)); /* chunk extensions */
    if (!num_end)
      num_end = eol;
    trim(&p, &num_end);
    size_t cs;
    if (parse_num(p, num_end, 16, &cs) < 0)
      return -EPROTO;
    p = eol + 2;
    if (cs == 0)
      break;
    if ((size_t)(lim - p) < cs + 2)
      return 0;
    if (p[cs] != '\r' || p[cs + 1] != '\n')
      return -EPROTO;
    body_add(body, body_cap, r, p, cs);
    p += cs + 2;
  }
  for (;;) { /* trailer fields, then an empty line */
    const char *eol = find_crlf(p, lim);
    if (!eol)
      return 0;
    bool empty = eol == p;
    p = eol + 2;
    if (empty)
      break;
  }
  *ret_end = p;
  return 1;
}

int http_reply_parse(const char *buf, size_t len, char *body, size_t body_cap,
                     struct http_reply *ret) {
  struct http_reply r = {.keep_alive = true};
  if (len == 0)
    return 0;
  const char *lim = buf + len, *p, *eol;
  const char *content_length = NULL, *cl_end = NULL;
  bool chunked = false;
  if (body_cap == 0)
    return -EPROTO;
  /* Status line: HTTP/1.1 SP 3DIGIT (SP reason)? CRLF */
  static const char proto[] = "HTTP/1.1 ";
  size_t have = len < sizeof(proto) - 1 ? len : sizeof(proto) - 1;
  if (memcmp(buf, proto, have) != 0)
    return -EPROTO;
  if (!(eol = find_crlf(buf, lim)))
    return 0;
  p = buf + sizeof(proto) - 1;
  if (eol - p < 3 || (eol - p > 3 && p[3] != ' '))
    return -EPROTO;
  size_t status;
  if (parse_num(p, p + 3, 10, &status) < 0 || status < 100)
    return -EPROTO;
  r.status = (int)status;
  /* Header fields up to the empty line. */
  for (p = eol + 2;; p = eol + 2) {
    if (!(eol = find_crlf(p, lim)))
      return 0;
    if (eol == p)
      break;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (!colon || colon == p)
      return -EPROTO;
    const char *v = colon + 1, *v_end = eol;
    trim(&v, &v_end);
    if (token_is(p, colon, "Content-Length")) {
      if (content_length)
        return -EPROTO;
      content_length = v;
      cl_end = v_end;
    } else if (token_is(p, colon, "Transfer-Encoding")) {
      if (!token_is(v, v_end, "chunked"))
        return -EPROTO;
      chunked = true;
    } else if (token_is(p, colon, "Connection") && token_is(v, v_end, "close")) {
      r.keep_alive = false;
    }
  }
  p = eol + 2; /* the body starts here */
  const char *end;
  if (content_length && !chunked) {
    size_t cl;
    if (parse_num(content_length, cl_end, 10, &cl) < 0)
      return -EPROTO;
    if ((size_t)(lim - p) < cl)
      return 0;
    body_add(body, body_cap, &r, p, cl);
    end = p + cl;
  } else if (chunked && !content_length) {
    int k = parse_chunked(p, lim, body, body_cap, &r, &end);
    if (k <= 0)
      return k;
  } else {
    return -EPROTO;
  }
  body[r.body_len] = '\0';
  r.msg_len = (size_t)(end - buf);
  *ret = r;
  return 1;
}
