/* `secret audit`: list the audit chain (paging through audit.ls), as a table
 * or as JSON lines in the audit file's shape, and verify it (audit.verify),
 * optionally against a head saved earlier. */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include <msgpack.h>

#include "base/audit_json.h"
#include "base/macro.h"
#include "cli/cli.h"
#include "cli/opts.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct wire_reply *, wire_reply_free)


static const struct option audit_opts[] = {
    {"since", required_argument, NULL, OPT_SINCE},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"expect-head", required_argument, NULL, OPT_EXPECT_HEAD},
    CLI_JSON_LONGOPT,
    CLI_PAGE_SIZE_LONGOPT,
    CLI_COMMON_LONGOPTS,
    CLI_LONGOPTS_END};

static int audit_opt(struct audit_args *a, int c, const char *arg, uint64_t now_ns) {
  switch (c) {
  case OPT_SINCE:
    a->has_since = true;
    if (cli_parse_since(arg, now_ns, &a->since_ns) < 0)
      return cli_usage_err("audit",
                           "--since wants an RFC 3339 time (2026-11-29T01:00:00Z) or a duration "
                           "(90s, 15m, 1h, 2d), got '%.40s'",
                           arg);
    return 0;
  case OPT_VERIFY:
    a->verify = true;
    return 0;
  case OPT_PAGE_SIZE:
    /* at least 2: every page request adds its own audit record at the end,
     * so pages of 1 would never reach it */
    if (cli_parse_page_size(arg, &a->page_size) < 0 || a->page_size < 2)
      return cli_usage_err("audit", "--page-size wants a number from 2 to %d, got '%.32s'",
                           WIRE_PAGE_MAX, arg);
    return 0;
  case OPT_EXPECT_HEAD:
    a->has_head = a->verify = true;
    if (cli_parse_head(arg, &a->head_seq, a->head_hash) < 0)
      return cli_usage_err("audit", "--expect-head wants SEQ:HASH (64 hex digits), got '%.80s'",
                           arg);
    return 0;
  default:
    return -1;
  }
}

int audit_parse(int argc, char **argv, uint64_t now_ns, struct audit_args *a) {
  int c, r;

  memset(a, 0, sizeof(*a));
  a->page_size = WIRE_PAGE_MAX;
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, audit_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &a->co))
      continue;
    if ((r = audit_opt(a, c, optarg, now_ns)) < 0)
      return cli_bad_option("audit", c, optopt, argv, optind);
    if (r)
      return r;
  }
  if (a->co.help)
    return 0;
  if ((r = cli_positionals("audit", argc, argv, optind, 0, 0, NULL, NULL)) != 0)
    return r;
  if (a->verify && a->has_since)
    return cli_usage_err("audit", "--since does not go with --verify (the whole chain is checked)");
  return 0;
}

/* ---- listing ---- */

/* The filter sent with every page (the cursor says where the page starts). */
static void pack_since(msgpack_packer *pk, void *ud) {
  const struct audit_args *a = ud;
  wire_pack_kv_uint(pk, "since_ns", a->since_ns);
}

struct rec {
  uint64_t seq, time_ns;
  char actor[128], action[64], object[512], outcome[256], prev[72], hash[72];
};

static int read_rec(const msgpack_object *o, struct rec *x) {
  int r;
  if ((r = cli_reply_is_map(o, "records")) || (r = cli_reply_uint(o, "seq", &x->seq)) ||
      (r = cli_reply_uint(o, "time_ns", &x->time_ns)) ||
      (r = cli_reply_str(o, "actor", x->actor, sizeof(x->actor))) ||
      (r = cli_reply_str(o, "action", x->action, sizeof(x->action))) ||
      (r = cli_reply_str(o, "object", x->object, sizeof(x->object))) ||
      (r = cli_reply_str(o, "outcome", x->outcome, sizeof(x->outcome))) ||
      (r = cli_reply_str(o, "prev", x->prev, sizeof(x->prev))) ||
      (r = cli_reply_str(o, "hash", x->hash, sizeof(x->hash))))
    return r;
  return 0;
}

static int print_rec(struct rec *x, bool json) {
  if (json) {
    char line[8192];
    struct audit_fields f = {x->seq,     x->time_ns,  x->actor, x->action, x->object,
                             x->outcome, x->prev,     x->hash};
    if (audit_json_render(&f, line, sizeof(line)) < 0) {
      cli_err("audit record %" PRIu64 " too large to print", x->seq);
      return CLI_EXIT_DAEMON;
    }
    puts(line);
    return 0;
  }
  char t[40];
  cli_time_short(x->time_ns, t, sizeof(t));
  cli_printable(x->actor);
  cli_printable(x->action);
  cli_printable(x->object);
  cli_printable(x->outcome);
  printf("%-6" PRIu64 "  %-20s  %-10s  %-16s  %-28s  %s\n", x->seq, t, x->actor, x->action,
         x->object, x->outcome);
  return 0;
}

struct audit_out {
  bool json;
  uint64_t last_seq; /* of the records printed so far */
};

/* One page: print its records, which must continue the seq order. */
static int audit_page(const msgpack_object *result, void *ud) {
  struct audit_out *o = ud;
  const msgpack_object *recs;
  struct rec x;
  int r;
  if ((r = cli_reply_array(result, "records", &recs)))
    return r;
  for (uint32_t i = 0; i < recs->via.array.size; i++) {
    if ((r = read_rec(&recs->via.array.ptr[i], &x)))
      return r;
    if (x.seq <= o->last_seq) {
      cli_err("unexpected reply from secretd (audit records out of order)");
      return CLI_EXIT_DAEMON;
    }
    if ((r = print_rec(&x, o->json)))
      return r;
    o->last_seq = x.seq;
  }
  return 0;
}

static int audit_list(struct cli *c, const struct audit_args *a) {
  struct audit_out o = {a->co.json, 0};
  if (!a->co.json)
    printf("%-6s  %-20s  %-10s  %-16s  %-28s  %s\n", "SEQ", "TIME", "ACTOR", "ACTION", "OBJECT",
           "OUTCOME");
  return cli_follow_pages(c, "audit", WIRE_OP_AUDIT_LS, a->page_size, "records", a->has_since,
                          a->has_since ? pack_since : NULL, (void *)a, audit_page, &o);
}

/* ---- verify ---- */

static void pack_verify(msgpack_packer *pk, void *ud) {
  const struct audit_args *a = ud;
  msgpack_pack_map(pk, a->has_head ? 2 : 0);
  if (a->has_head) {
    wire_pack_kv_uint(pk, "expect_seq", a->head_seq);
    wire_pack_kv_str(pk, "expect_hash", a->head_hash);
  }
}

static int audit_verify(struct cli *c, const struct audit_args *a) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  const msgpack_object *res;
  uint64_t head_seq, bad = 0;
  char hash[72], reason[256] = "";
  bool ok;
  int r;

  if ((r = cli_call(c, "audit --verify", NULL, WIRE_OP_AUDIT_VERIFY, pack_verify, (void *)a,
                    &rep)))
    return r;
  res = rep->r.result;
  if ((r = cli_reply_bool(res, "ok", &ok)) || (r = cli_reply_uint(res, "head_seq", &head_seq)) ||
      (r = cli_reply_str(res, "head_hash", hash, sizeof(hash))))
    return r;
  if (!ok && ((r = cli_reply_uint(res, "first_bad_seq", &bad)) ||
              (r = cli_reply_str(res, "reason", reason, sizeof(reason)))))
    return r;
  cli_printable(hash);
  cli_printable(reason);
  if (a->co.json) {
    printf("{\"ok\":%s,\"head_seq\":%" PRIu64 ",\"head_hash\":\"%s\"", ok ? "true" : "false",
           head_seq, hash);
    if (!ok) {
      printf(",\"first_bad_seq\":%" PRIu64 ",\"reason\":", bad);
      json_write_str(stdout, reason, strlen(reason));
    }
    fputs("}\n", stdout);
  } else if (ok) {
    printf("audit chain OK: %" PRIu64 " records, head %" PRIu64 ":%s\n", head_seq, head_seq, hash);
  }
  if (!ok) {
    cli_err("audit chain does NOT verify: first bad record %" PRIu64 ": %s (verified head %" PRIu64
            ":%s)",
            bad, reason, head_seq, hash);
    return CLI_EXIT_DAEMON;
  }
  return 0;
}

int verb_audit(int argc, char **argv) {
  struct audit_args a;
  int r;
  if ((r = audit_parse(argc, argv, cli_now_ns(), &a)) != 0 || a.co.help)
    return cli_parsed("audit", r, a.co.help);
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  r = a.verify ? audit_verify(&c, &a) : audit_list(&c, &a);
  cli_close(&c);
  return r;
}
