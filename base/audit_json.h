/*
 * The one JSON shape of an audit record, shared by the audit file that
 * secretd appends and by `secret audit --json`, so log shippers and
 * operators see the same lines.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct audit_fields {
  uint64_t seq;
  uint64_t time_ns;   /* Unix time in nanoseconds, UTC */
  const char *actor;  /* "uid:0" or "node:<id>" */
  const char *action; /* e.g. "secret.create" */
  const char *object; /* e.g. "secret:db_password" */
  const char *outcome;/* "ok", "denied" or "error: ..." */
  const char *prev_hex; /* 64 hex chars */
  const char *hash_hex; /* 64 hex chars */
};

/*
 * Render one JSON object without a trailing newline:
 * {"seq":N,"time":"2026-11-29T01:02:03.000000004Z","actor":"uid:0",
 *  "action":"...","object":"...","outcome":"...","prev":"hex","hash":"hex"}
 * Strings are escaped per RFC 8259 (control characters as \u00XX). NULL
 * strings render as "". Returns the length written (excluding the NUL) or
 * -ENOBUFS when buf is too small (buf then holds no partial record).
 */
int audit_json_render(const struct audit_fields *f, char *buf, size_t len);

/* RFC 3339 UTC time with nanoseconds, e.g. 2026-11-29T01:02:03.000000004Z.
 * Returns the length or -ENOBUFS. */
int audit_time_rfc3339(uint64_t time_ns, char *buf, size_t len);
