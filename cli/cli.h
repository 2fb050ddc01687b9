/*
 * `secret`, the operator's command: shared declarations of the verb files,
 * the daemon connection helpers (rpc.c), value input (value.c) and the
 * output/parsing helpers (output.c).
 *
 * Conventions: a verb's run function returns the process exit status
 * (CLI_EXIT_*) and has already printed its one error line ("secret: ...")
 * when that status is not 0. Parse functions take argv with argv[0] = verb
 * name, never touch the daemon, and return 0 or CLI_EXIT_USAGE (message
 * printed). Pure helpers return 0 or a negative errno and print nothing.
 */
#pragma once

#include "base/secbuf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/limits.h"
#include "wire/client.h"

#define CLI_DEFAULT_SOCKET "/run/secretd/admin.sock"
#define CLI_SOCKET_ENV "SECRETD_SOCKET"
#define CLI_VALUE_MAX SD_VALUE_MAX /* base/limits.h */
#define CLI_MAX_LABELS 64
#define CLI_TIMEOUT_MS 60000
#define CLI_MAX_PAGES 1000000 /* pages one listing follows at most (10^9 entries) */

enum cli_exit {
  CLI_EXIT_OK = 0,
  CLI_EXIT_DAEMON = 1, /* the daemon refused or failed the request (or another error) */
  CLI_EXIT_USAGE = 2,
  CLI_EXIT_CONN = 3, /* cannot connect, or the connection was lost */
};

/* ---- the daemon connection (rpc.c) ---- */

struct cli {
  const char *socket;         /* resolved path: --socket, $SECRETD_SOCKET or the default */
  struct wire_client *client; /* connected lazily by cli_call */
};

/* The socket path: flag (may be NULL), else $SECRETD_SOCKET when set and
 * non-empty, else CLI_DEFAULT_SOCKET. Static or borrowed, never NULL. */
const char *cli_socket_path(const char *flag);

/* Print "secret: " + message + newline on stderr, in one write(2). */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with "VERB: " before and suffix after the message (both may be NULL). */
void cli_err_line(const char *verb, const char *suffix, const char *fmt, va_list ap);

/*
 * Send one request and wait for its answer, connecting first if needed.
 * `what` names the action for error lines ("create db_password"); `enoent`
 * is the text shown for a daemon -ENOENT (NULL: "no such secret"). Returns
 * CLI_EXIT_OK with *ret owning an ok reply (free with wire_reply_free), or
 * CLI_EXIT_CONN / CLI_EXIT_DAEMON after printing the error line (*ret
 * untouched).
 */
int cli_call(struct cli *c, const char *what, const char *enoent, enum wire_op op,
             wire_pack_fn pack, void *ud, struct wire_reply **ret);
/* Close the connection. */
void cli_close(struct cli *c);
/* The one-line, printable text for a daemon error (code, daemon message). */
const char *cli_daemon_error_text(int code, const char *daemon_msg, const char *enoent);

/* Reply fields: CLI_EXIT_OK, or CLI_EXIT_DAEMON after printing "unexpected
 * reply from secretd (field ...)". */
int cli_reply_str(const msgpack_object *m, const char *key, char *buf, size_t cap);
/* The secret a write acted on, as the daemon resolved it ("id" and "name" of
 * the result), made printable: what the CLI prints, never the ref as typed.
 * 0 or CLI_EXIT_DAEMON (message printed). */
int cli_reply_target(const msgpack_object *m, char id[65], char name[260]);
int cli_reply_uint(const msgpack_object *m, const char *key, uint64_t *ret);
int cli_reply_bool(const msgpack_object *m, const char *key, bool *ret);
int cli_reply_array(const msgpack_object *m, const char *key, const msgpack_object **ret);
int cli_reply_map(const msgpack_object *m, const char *key, const msgpack_object **ret);
int cli_reply_is_map(const msgpack_object *o, const char *what);

/* ---- secret values (value.c) ---- */

/*
 * Read a value from file (NULL or "-": standard input) to EOF into secret
 * memory (struct secbuf, base/secbuf.h: locked, never dumped, wiped on
 * free). Refuses a terminal on stdin (the value would echo), empty values and
 * values over max bytes. Returns 0, -ENOTTY, -ENODATA (empty), -EFBIG,
 * -ENOMEM or the errno of open/read. On success *ret is owned by the caller
 * (secbuf_free).
 */
int cli_value_read(const char *file, size_t max, struct secbuf **ret);
/* Read from an open fd (not closed); same errors minus -ENOTTY. */
int cli_value_read_fd(int fd, size_t max, struct secbuf **ret);

/* ---- parsing and output helpers (output.c) ---- */

/* RFC 3339 date-time ("2026-11-29T01:00:00Z", "...T02:00:00.5+01:00"; 't',
 * 'z' and a space separator accepted) or a bare date (midnight UTC), to Unix
 * ns. Returns 0 or -EINVAL (also before 1970 or beyond year 2262). */
int cli_parse_rfc3339(const char *s, uint64_t *ret_ns);
/* A duration of one or more <number><unit> parts, units s, m, h, d, w
 * ("90s", "15m", "1h30m", "2d"). Returns 0, -EINVAL or -ERANGE. */
int cli_parse_duration(const char *s, uint64_t *ret_ns);
/* --since: an RFC 3339 time, or a duration meaning that long before now_ns
 * (clamped at 0). Returns 0, -EINVAL or -ERANGE. */
int cli_parse_since(const char *s, uint64_t now_ns, uint64_t *ret_ns);
/* A file mode in octal ("0400", "440"), at most 07777. 0 or -EINVAL. */
int cli_parse_mode(const char *s, uint32_t *ret);
/* --page-size: a decimal 1 .. WIRE_PAGE_MAX. 0 or -EINVAL. */
int cli_parse_page_size(const char *s, uint32_t *ret);
/* Follow the pages of a listing: call op with {"limit","cursor"} (plus what
 * pack_more adds: n_more entries) from the first page, hand each page's
 * result to on_page, and
 * continue with its "next" until there is none. Refuses a reply whose
 * "next" is malformed, repeats the cursor just sent, or comes with an empty
 * page. Returns CLI_EXIT_OK or the exit status (error line printed). */
typedef int (*cli_page_fn)(const msgpack_object *result, void *ud);
int cli_follow_pages(struct cli *c, const char *what, enum wire_op op, uint32_t page_size,
                     const char *items_key, uint32_t n_more, wire_pack_fn pack_more,
                     void *pack_ud, cli_page_fn on_page, void *page_ud);
/* The same starting at cursor `from` (a "next" of an earlier reply). */
int cli_follow_pages_from(struct cli *c, const char *what, enum wire_op op, uint32_t page_size,
                          const char *from, const char *items_key, uint32_t n_more,
                          wire_pack_fn pack_more, void *pack_ud, cli_page_fn on_page,
                          void *page_ud);
/* A decimal uint32 (uid/gid). 0, -EINVAL or -ERANGE. */
int cli_parse_u32(const char *s, uint32_t *ret);
/* "SEQ:HASH" with a decimal seq >= 1 and 64 hex digits (lower-cased into
 * hash). 0 or -EINVAL. */
int cli_parse_head(const char *s, uint64_t *ret_seq, char ret_hash[65]);
/* "K=V" with a non-empty K without '='. Points into s. 0 or -EINVAL. */
struct cli_label {
  const char *key;
  size_t key_len;
  const char *value;
};
int cli_parse_label(const char *s, struct cli_label *ret);

/* Now, Unix ns (CLOCK_REALTIME). */
uint64_t cli_now_ns(void);
/* RFC 3339 UTC with seconds ("2026-11-29T01:02:03Z"). Length or -ENOBUFS. */
int cli_time_short(uint64_t ns, char *buf, size_t len);
/* RFC 3339 UTC with nanoseconds (the audit shape). Length or -ENOBUFS. */
int cli_time_long(uint64_t ns, char *buf, size_t len);

/* Write s[0..n) as a JSON string literal (quoted, RFC 8259 escapes, control
 * characters as \u00XX, bytes that are not UTF-8 as \ufffd). */
void json_write_str(FILE *f, const char *s, size_t n);
/* Replace control characters by '?' in place, for terminal output. */
void cli_printable(char *s);

/* A text table whose columns are as wide as their widest cell. */
struct table;
int table_new(size_t ncols, const char *const *headers, struct table **ret); /* 0, -ENOMEM */
/* Append a row of ncols cells (copied, made printable). 0 or -ENOMEM. */
int table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f); /* two spaces between columns */
void table_free(struct table *t);                 /* NULL ok */

/* ---- verbs (secret_verbs.c, grant_verbs.c, audit_verbs.c) ---- */

/* Options that every verb accepts. */
struct cli_common {
  const char *socket;
  bool help;
  bool json;
};

struct create_args {
  struct cli_common co;
  const char *name, *file;
  struct cli_label labels[CLI_MAX_LABELS];
  size_t n_labels;
};
struct rotate_args {
  struct cli_common co;
  const char *name, *file;
};
struct rm_args {
  struct cli_common co;
  const char *name;
  bool force;
};
struct ls_args {
  struct cli_common co;
  uint32_t page_size; /* entries asked per request (1 .. WIRE_PAGE_MAX) */
};
struct inspect_args {
  struct cli_common co;
  const char *name;
};
struct grant_args {
  struct cli_common co;
  const char *name, *service, *target;
  bool has_uid, has_gid, has_mode, has_version;
  uint32_t uid, gid, mode;
  uint32_t version; /* --version N: pin (0 = follow the latest) */
};
struct revoke_args {
  struct cli_common co;
  const char *name, *service;
};
struct audit_args {
  struct cli_common co;
  bool verify, has_since, has_head;
  uint64_t since_ns, head_seq;
  char head_hash[65];
  uint32_t page_size; /* records asked per request (1 .. WIRE_PAGE_MAX) */
};

int create_parse(int argc, char **argv, struct create_args *a);
int rotate_parse(int argc, char **argv, struct rotate_args *a);
int rm_parse(int argc, char **argv, struct rm_args *a);
int ls_parse(int argc, char **argv, struct ls_args *a);
int inspect_parse(int argc, char **argv, struct inspect_args *a);
int grant_parse(int argc, char **argv, struct grant_args *a);
int revoke_parse(int argc, char **argv, struct revoke_args *a);
/* now_ns: the reference for --since durations. */
int audit_parse(int argc, char **argv, uint64_t now_ns, struct audit_args *a);

/* Run functions: parse, talk to the daemon, print. Return the exit status. */
typedef int (*cli_run_fn)(int argc, char **argv);
int verb_create(int argc, char **argv);
int verb_rotate(int argc, char **argv);
int verb_rm(int argc, char **argv);
int verb_ls(int argc, char **argv);
int verb_inspect(int argc, char **argv);
int verb_grant(int argc, char **argv);
int verb_revoke(int argc, char **argv);
int verb_audit(int argc, char **argv);
/* service_verbs.c: `secret service create|ls|inspect|ps|rm` (argv[0] = "service"). */
int verb_service(int argc, char **argv);
/* identity_verbs.c */
int verb_join_token(int argc, char **argv);
int verb_node(int argc, char **argv);
int verb_cluster(int argc, char **argv);

/* The verb table (main.c's data, also used for help). */
struct cli_verb {
  const char *name;
  cli_run_fn run;
  const char *synopsis; /* arguments after the verb */
  const char *summary;  /* one line */
  const char *help;     /* option lines, may be "" */
};
/* The verb named name, or NULL. */
const struct cli_verb *cli_verb_find(const char *name);
/* Print the overall usage to f. */
void cli_usage(FILE *f);
/* Print `secret VERB --help` text to f. */
void cli_verb_usage(const struct cli_verb *v, FILE *f);

/* ---- option parsing support (args.c) ---- */

/* getopt_long over argv (argv[0] = verb), reset for a new parse, opterr off.
 * Long options "socket" ('S'), "help" ('h') and "json" ('j', when json_ok)
 * are appended to longopts by the caller's table; cli_common_opt() handles
 * them. */
void cli_getopt_reset(void);
/* Handles a common option; returns true if c was one. */
bool cli_common_opt(int c, const char *arg, struct cli_common *co);
/* Report getopt's '?' or ':' result for verb (prints the line). Returns
 * CLI_EXIT_USAGE. */
int cli_bad_option(const char *verb, int c, int optopt_val, char **argv, int optind_val);
/* The positional arguments argv[optind..argc): between min and max of them,
 * stored in out[0..max) (absent ones NULL); names[] name them for errors.
 * Returns 0 or CLI_EXIT_USAGE (printed). */
int cli_positionals(const char *verb, int argc, char **argv, int first, size_t min, size_t max,
                    const char *const *names, const char **out);
/* After a parse: print `secret VERB --help` when r is 0 and help was asked;
 * returns r. */
int cli_parsed(const char *verb, int r, bool help);
/* Print "secret: VERB: message (see 'secret VERB --help')". Returns CLI_EXIT_USAGE. */
int cli_usage_err(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
