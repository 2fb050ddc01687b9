/* The daemon connection of the CLI: socket path, one request at a time, and
 * the mapping of every failure to one error line and an exit status. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "cli/cli.h"

const char *cli_socket_path(const char *flag) {
  if (flag && *flag)
    return flag;
  const char *env = getenv(CLI_SOCKET_ENV);
  if (env && *env)
    return env;
  return CLI_DEFAULT_SOCKET;
}

void cli_err_line(const char *verb, const char *suffix, const char *fmt, va_list ap) {
  char line[1024];
  size_t n = (size_t)snprintf(line, sizeof(line), "secret: %s%s", verb ? verb : "", verb ? ": " : "");
  int k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
  n = k < 0 ? n : n + (size_t)k >= sizeof(line) - 1 ? sizeof(line) - 2 : n + (size_t)k;
  n += (size_t)snprintf(line + n, sizeof(line) - n, "%s", suffix ? suffix : "");
  if (n > sizeof(line) - 2)
    n = sizeof(line) - 2;
  line[n++] = '\n';
  /* One write, so that the lines of concurrent processes sharing a file do
   * not interleave. */
  fflush(stderr);
  (void)!write(STDERR_FILENO, line, n);
}

void cli_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cli_err_line(NULL, NULL, fmt, ap);
  va_end(ap);
}

const char *cli_daemon_error_text(int code, const char *daemon_msg, const char *enoent) {
  switch (code) {
  case -ENOENT:
    return enoent ? enoent : "no such secret";
  case -EEXIST:
    return "a secret with that name already exists";
  case -ENOSPC:
    return "no space left on the store's disk";
  case SD_E_MAPFULL:
    return "the store is full (its map size is reached)";
  default:
    return daemon_msg && *daemon_msg ? daemon_msg : sd_strerror(code);
  }
}

static int connect_daemon(struct cli *c) {
  int r = wire_client_connect(c->socket, CLI_TIMEOUT_MS, &c->client);
  if (r < 0) {
    const char *why = r == -ENOENT         ? "no socket there (is secretd running?)"
                      : r == -ECONNREFUSED ? "connection refused (is secretd running?)"
                      : r == -EACCES       ? "permission denied (root or the admin group only)"
                                           : sd_strerror(r);
    cli_err("cannot reach secretd at %s: %s", c->socket, why);
    return CLI_EXIT_CONN;
  }
  return CLI_EXIT_OK;
}

int cli_call(struct cli *c, const char *what, const char *enoent, enum wire_op op,
             wire_pack_fn pack, void *ud, struct wire_reply **ret) {
  struct wire_reply *rep = NULL;
  int r;

  if (!c->client && (r = connect_daemon(c)) != CLI_EXIT_OK)
    return r;
  r = wire_client_call(c->client, op, pack, ud, &rep);
  if (r == -ETIMEDOUT) {
    cli_err("%s: no answer from secretd at %s within %d s", what, c->socket,
            CLI_TIMEOUT_MS / 1000);
    return CLI_EXIT_CONN;
  }
  if (r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN) {
    cli_err("%s: connection to secretd at %s lost (the request may or may not have been done)",
            what, c->socket);
    return CLI_EXIT_CONN;
  }
  if (r == -EMSGSIZE) {
    cli_err("%s: request too large", what);
    return CLI_EXIT_DAEMON;
  }
  if (r < 0) {
    cli_err("%s: talking to secretd at %s: %s", what, c->socket, sd_strerror(r));
    return r == SD_E_PROTO || r == -ENOMEM ? CLI_EXIT_DAEMON : CLI_EXIT_CONN;
  }
  if (!rep->r.ok) {
    char msg[sizeof(rep->r.error)];
    snprintf(msg, sizeof(msg), "%s", rep->r.error);
    cli_printable(msg);
    cli_err("%s: %s", what, cli_daemon_error_text(rep->r.code, msg, enoent));
    wire_reply_free(rep);
    return CLI_EXIT_DAEMON;
  }
  *ret = rep;
  return CLI_EXIT_OK;
}

void cli_close(struct cli *c) {
  wire_client_free(c->client);
  c->client = NULL;
}

/* ---- reply fields ---- */

static int bad_reply(const char *key) {
  cli_err("unexpected reply from secretd (field '%s' missing or malformed)", key);
  return CLI_EXIT_DAEMON;
}

int cli_reply_str(const msgpack_object *m, const char *key, char *buf, size_t cap) {
  return wire_get_str(m, key, buf, cap) < 0 ? bad_reply(key) : CLI_EXIT_OK;
}

int cli_reply_uint(const msgpack_object *m, const char *key, uint64_t *ret) {
  return wire_get_uint(m, key, ret) < 0 ? bad_reply(key) : CLI_EXIT_OK;
}

int cli_reply_bool(const msgpack_object *m, const char *key, bool *ret) {
  return wire_get_bool(m, key, ret) < 0 ? bad_reply(key) : CLI_EXIT_OK;
}

int cli_reply_array(const msgpack_object *m, const char *key, const msgpack_object **ret) {
  return wire_get_array(m, key, ret) < 0 ? bad_reply(key) : CLI_EXIT_OK;
}

int cli_reply_map(const msgpack_object *m, const char *key, const msgpack_object **ret) {
  return wire_get_map(m, key, ret) < 0 ? bad_reply(key) : CLI_EXIT_OK;
}

int cli_reply_is_map(const msgpack_object *o, const char *what) {
  return o->type == MSGPACK_OBJECT_MAP ? CLI_EXIT_OK : bad_reply(what);
}

/* ---- listings ---- */

struct page_pack {
  uint32_t limit, n_more;
  const char *cursor;
  wire_pack_fn more;
  void *ud;
};

static void pack_page_req(msgpack_packer *pk, void *ud) {
  const struct page_pack *q = ud;
  wire_pack_page_args(pk, q->limit, q->cursor, q->n_more);
  if (q->more)
    q->more(pk, q->ud);
}

int cli_follow_pages(struct cli *c, const char *what, enum wire_op op, uint32_t page_size,
                     const char *items_key, uint32_t n_more, wire_pack_fn pack_more,
                     void *pack_ud, cli_page_fn on_page, void *page_ud) {
  return cli_follow_pages_from(c, what, op, page_size, "", items_key, n_more, pack_more, pack_ud,
                               on_page, page_ud);
}

int cli_follow_pages_from(struct cli *c, const char *what, enum wire_op op, uint32_t page_size,
                          const char *from, const char *items_key, uint32_t n_more,
                          wire_pack_fn pack_more, void *pack_ud, cli_page_fn on_page,
                          void *page_ud) {
  char cursor[WIRE_CURSOR_MAX + 1], next[WIRE_CURSOR_MAX + 1];
  snprintf(cursor, sizeof(cursor), "%s", from);
  struct page_pack q = {page_size, n_more, cursor, pack_more, pack_ud};
  bool more = true;
  int r = CLI_EXIT_OK;
  for (size_t page = 0; more && r == CLI_EXIT_OK; page++) {
    if (page == CLI_MAX_PAGES) { /* a bound on the loop whatever the server says */
      cli_err("%s: more than %d pages; stopped", what, CLI_MAX_PAGES);
      return CLI_EXIT_DAEMON;
    }
    struct wire_reply *rep = NULL;
    const msgpack_object *items;
    if ((r = cli_call(c, what, NULL, op, pack_page_req, &q, &rep)) != CLI_EXIT_OK)
      return r;
    if ((r = cli_reply_array(rep->r.result, items_key, &items)) == CLI_EXIT_OK) {
      if (wire_page_next(rep->r.result, next, &more) < 0)
        r = bad_reply("next");
      else if (more && (items->via.array.size == 0 || strcmp(next, cursor) == 0))
        r = bad_reply("next"); /* a page that does not advance would loop forever */
      else
        r = on_page(rep->r.result, page_ud);
    }
    wire_reply_free(rep);
    if (more)
      memcpy(cursor, next, sizeof(cursor));
  }
  return r;
}
