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
