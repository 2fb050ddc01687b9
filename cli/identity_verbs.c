/*
 * Cluster identity verbs: `secret join-token`, `secret node ls|inspect|rm`,
 * `secret cluster update`. The join token is a secret: it is printed once
 * with write(2) (no stdio copy) and its stack copy wiped.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/io.h"
#include "base/macro.h"
#include "cli/cli.h"
#include "cli/opts.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct wire_reply *, wire_reply_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct table *, table_free)

enum { OPT_ROTATE = 400, OPT_TTL, OPT_USES, OPT_CERT_EXPIRY, OPT_QUIET };

static const struct option jt_opts[] = {
    CLI_COMMON_LONGOPTS,
    {"rotate", no_argument, NULL, OPT_ROTATE},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"uses", required_argument, NULL, OPT_USES},
    {"quiet", no_argument, NULL, OPT_QUIET},
    CLI_LONGOPTS_END,
};

struct jt_args {
  struct cli_common co;
  const char *role;
  bool rotate, has_ttl, has_uses, quiet;
  uint64_t ttl_s;
  uint32_t uses;
};

static void pack_jt(msgpack_packer *pk, void *ud) {
  const struct jt_args *a = ud;
  msgpack_pack_map(pk, 2 + a->has_ttl + a->has_uses);
  wire_pack_kv_str(pk, "role", a->role);
  wire_pack_str(pk, "rotate");
  a->rotate ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  if (a->has_ttl)
    wire_pack_kv_uint(pk, "ttl_s", a->ttl_s);
  if (a->has_uses)
    wire_pack_kv_uint(pk, "uses", a->uses);
}

int verb_join_token(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct jt_args a = {0};
  static const char *const names[] = {"ROLE"};
  uint64_t ns;
  int c, r;
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, jt_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &a.co))
      continue;
    switch (c) {
    case OPT_ROTATE: a.rotate = true; break;
    case OPT_QUIET: a.quiet = true; break;
    case OPT_TTL:
      if (!strcmp(optarg, "0")) {
        ns = 0;
      } else if (cli_parse_duration(optarg, &ns) < 0) {
        return cli_usage_err("join-token", "--ttl: want a duration (24h, 90m, 7d) or 0 (never "
                                           "expires)");
      }
      a.ttl_s = ns / 1000000000ull;
      if (ns && a.ttl_s == 0)
        return cli_usage_err("join-token", "--ttl: at least one second");
      a.has_ttl = true;
      break;
    case OPT_USES:
      if (cli_parse_u32(optarg, &a.uses) < 0 || a.uses == 0)
        return cli_usage_err("join-token", "--uses: want a number of joins >= 1");
      a.has_uses = true;
      break;
    default: return cli_bad_option("join-token", c, optopt, argv, optind);
    }
  }
  if (a.co.help)
    return cli_parsed("join-token", 0, true);
  if ((r = cli_positionals("join-token", argc, argv, optind, 1, 1, names, &a.role)) != 0)
    return r;
  struct cli cl = {.socket = cli_socket_path(a.co.socket)};
  r = cli_call(&cl, "join-token", NULL, WIRE_OP_JOIN_TOKEN, pack_jt, &a, &rep);
  cli_close(&cl);
  if (r)
    return r;
  const msgpack_object *res = rep->r.result, *tok = wire_map_get(res, "token");
  uint64_t expires = 0, uses_max = 0, uses_done = 0;
  if ((r = cli_reply_uint(res, "expires_s", &expires)) ||
      (r = cli_reply_uint(res, "uses_max", &uses_max)) ||
      (r = cli_reply_uint(res, "uses_done", &uses_done)))
    return r;
  if (tok && tok->type == MSGPACK_OBJECT_STR && tok->via.str.size && tok->via.str.size < 128) {
    char line[130];
    memcpy(line, tok->via.str.ptr, tok->via.str.size);
    line[tok->via.str.size] = '\n';
    fflush(stdout);
    r = sd_write_all(STDOUT_FILENO, line, tok->via.str.size + 1);
    sodium_memzero(line, sizeof(line));
    if (r < 0) {
      cli_err("cannot print the token");
      return CLI_EXIT_DAEMON;
    }
    if (!a.quiet) {
      fprintf(stderr, "secret: a new worker token (shown only now: secretd keeps only its hash); ");
      fflush(stderr);
    }
  } else if (!a.quiet) {
    fprintf(stderr, "secret: a worker token exists (secretd keeps only its hash, so it cannot "
                    "be shown again; use --rotate for a new one); ");
    fflush(stderr);
  }
  if (!a.quiet) {
    char t[40];
    if (expires) {
      cli_time_short(expires * 1000000000ull, t, sizeof(t));
      fprintf(stderr, "expires %s; ", t);
    } else {
      fprintf(stderr, "never expires; ");
    }
    if (uses_max)
      fprintf(stderr, "used %" PRIu64 " of %" PRIu64 " times\n", uses_done, uses_max);
    else
      fprintf(stderr, "used %" PRIu64 " times (no limit)\n", uses_done);
  }
  return 0;
}

/* ---- node ---- */

static const struct option node_opts[] = {
    CLI_COMMON_LONGOPTS,
    CLI_JSON_LONGOPT,
    {"force", no_argument, NULL, OPT_FORCE},
    CLI_LONGOPTS_END,
};

struct node_row {
  char id[64], hostname[260], role[16], status[16], address[260], expiry[40], seen[40];
  char serial[64], created[40], updated[40];
};

static int read_node(const msgpack_object *o, struct node_row *n, bool full) {
  uint64_t exp, seen, cns, uns;
  int r;
  if ((r = cli_reply_is_map(o, "nodes")) || (r = cli_reply_str(o, "id", n->id, sizeof(n->id))) ||
      (r = cli_reply_str(o, "hostname", n->hostname, sizeof(n->hostname))) ||
      (r = cli_reply_str(o, "role", n->role, sizeof(n->role))) ||
      (r = cli_reply_str(o, "status", n->status, sizeof(n->status))) ||
      (r = cli_reply_str(o, "address", n->address, sizeof(n->address))) ||
      (r = cli_reply_uint(o, "cert_expiry_s", &exp)) ||
      (r = cli_reply_uint(o, "last_seen_ns", &seen)))
    return r;
  cli_time_short(exp * 1000000000ull, n->expiry, sizeof(n->expiry));
  cli_time_short(seen, n->seen, sizeof(n->seen));
  if (full) {
    if ((r = cli_reply_str(o, "cert_serial", n->serial, sizeof(n->serial))) ||
        (r = cli_reply_uint(o, "created_ns", &cns)) || (r = cli_reply_uint(o, "updated_ns", &uns)))
      return r;
    cli_time_short(cns, n->created, sizeof(n->created));
    cli_time_short(uns, n->updated, sizeof(n->updated));
  }
  return 0;
}

static void node_json(const struct node_row *n, bool full) {
  struct {
    const char *k, *v;
  } f[] = {{"id", n->id},         {"hostname", n->hostname},   {"role", n->role},
           {"status", n->status}, {"address", n->address},     {"cert_expiry", n->expiry},
           {"last_seen", n->seen}, {"cert_serial", n->serial}, {"created", n->created},
           {"updated", n->updated}};
  size_t cnt = full ? ARRAY_SIZE(f) : 7;
  fputc('{', stdout);
  for (size_t i = 0; i < cnt; i++) {
    if (i)
      fputc(',', stdout);
    json_write_str(stdout, f[i].k, strlen(f[i].k));
    fputc(':', stdout);
    json_write_str(stdout, f[i].v, strlen(f[i].v));
  }
  fputc('}', stdout);
}

static void pack_ref(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "ref", ud);
}

struct rm_ud {
  const char *id;
  bool force;
};
static void pack_rm(msgpack_packer *pk, void *ud) {
  const struct rm_ud *u = ud;
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "ref", u->id);
  wire_pack_str(pk, "force");
  u->force ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

struct node_ls_out {
  bool json;
  size_t shown;
  struct table *t;
};

static int node_ls_page(const msgpack_object *result, void *ud) {
  struct node_ls_out *o = ud;
  const msgpack_object *arr;
  struct node_row n;
  int r = cli_reply_array(result, "nodes", &arr);
  for (uint32_t i = 0; r == 0 && i < arr->via.array.size; i++) {
    if ((r = read_node(&arr->via.array.ptr[i], &n, false)) != 0)
      break;
    if (o->json) {
      fputs(o->shown++ ? ",\n " : "\n ", stdout);
      node_json(&n, false);
      continue;
    }
    const char *row[] = {n.id, n.hostname, n.role, n.status, n.address, n.expiry, n.seen};
    if (table_add(o->t, row) < 0) {
      cli_err("out of memory");
      return CLI_EXIT_DAEMON;
    }
  }
  return r;
}

/* Every page of node.ls (cli_follow_pages), as a table or a JSON array. */
static int node_ls(struct cli *cl, bool json) {
  static const char *const head[] = {"ID",      "HOSTNAME",    "ROLE",     "STATUS",
                                     "ADDRESS", "CERT EXPIRY", "LAST SEEN"};
  _cleanup_(table_freep) struct table *t = NULL;
  if (!json && table_new(ARRAY_SIZE(head), head, &t) < 0) {
    cli_err("out of memory");
    return CLI_EXIT_DAEMON;
  }
  struct node_ls_out o = {.json = json, .t = t};
  if (json)
    fputc('[', stdout);
  int r = cli_follow_pages(cl, "node ls", WIRE_OP_NODE_LS, WIRE_PAGE_MAX, "nodes", 0, NULL, NULL,
                           node_ls_page, &o);
  if (r)
    return r;
  if (json)
    fputs(o.shown ? "\n]\n" : "]\n", stdout);
  else
    table_print(t, stdout);
  return 0;
}

static int node_inspect(struct cli *cl, const char *id, bool json) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct node_row n;
  int r = cli_call(cl, "node inspect", "no such node", WIRE_OP_NODE_INSPECT, pack_ref,
                   (void *)id, &rep);
  if (r || (r = read_node(rep->r.result, &n, true)))
    return r;
  if (json) {
    node_json(&n, true);
    fputc('\n', stdout);
    return 0;
  }
  printf("ID:           %s\nHostname:     %s\nRole:         %s\nStatus:       %s\n"
         "Address:      %s\nCert expiry:  %s\nCert serial:  %s\nLast seen:    %s\n"
         "Joined:       %s\nUpdated:      %s\n",
         n.id, n.hostname, n.role, n.status, n.address, n.expiry, n.serial, n.seen, n.created,
         n.updated);
  return 0;
}

static int node_rm(struct cli *cl, const char *id, bool force) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct rm_ud u = {id, force};
  uint64_t until;
  char t[40];
  int r = cli_call(cl, "node rm", "no such node", WIRE_OP_NODE_RM, pack_rm, &u, &rep);
  if (r || (r = cli_reply_uint(rep->r.result, "denied_until_s", &until)))
    return r;
  cli_time_short(until * 1000000000ull, t, sizeof(t));
  printf("%s\n", id);
  fprintf(stderr, "secret: node %s removed; denied until %s\n", id, t);
  return 0;
}

int verb_node(int argc, char **argv) {
  struct cli_common co = {0};
  bool force = false;
  const char *pos[2] = {NULL, NULL};
  static const char *const names[] = {"SUBCOMMAND (ls, inspect, rm)", "ID"};
  int c, r;
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, node_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &co))
      continue;
    if (c == OPT_FORCE) {
      force = true;
      continue;
    }
    return cli_bad_option("node", c, optopt, argv, optind);
  }
  if (co.help)
    return cli_parsed("node", 0, true);
  if ((r = cli_positionals("node", argc, argv, optind, 1, 2, names, pos)) != 0)
    return r;
  struct cli cl = {.socket = cli_socket_path(co.socket)};
  if (!strcmp(pos[0], "ls") && !pos[1] && !force) {
    r = node_ls(&cl, co.json);
  } else if (!strcmp(pos[0], "inspect") && pos[1] && !force) {
    r = node_inspect(&cl, pos[1], co.json);
  } else if (!strcmp(pos[0], "rm") && pos[1] && !co.json) {
    r = node_rm(&cl, pos[1], force);
  } else {
    return cli_usage_err("node", "want: node ls [--json] | node inspect ID [--json] | "
                                 "node rm ID [--force]");
  }
  cli_close(&cl);
  return r;
}

/* ---- cluster ---- */

static const struct option cluster_opts[] = {
    CLI_COMMON_LONGOPTS,
    {"cert-expiry", required_argument, NULL, OPT_CERT_EXPIRY},
    CLI_LONGOPTS_END,
};

static void pack_update(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "cert_expiry_s", *(const uint64_t *)ud);
}

int verb_cluster(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct cli_common co = {0};
  const char *pos[1] = {NULL};
  static const char *const names[] = {"SUBCOMMAND (update)"};
  uint64_t ns = 0, secs;
  bool have = false;
  int c, r;
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, cluster_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &co))
      continue;
    if (c == OPT_CERT_EXPIRY) {
      if (cli_parse_duration(optarg, &ns) < 0)
        return cli_usage_err("cluster", "--cert-expiry: want a duration (1h to 90d)");
      have = true;
      continue;
    }
    return cli_bad_option("cluster", c, optopt, argv, optind);
  }
  if (co.help)
    return cli_parsed("cluster", 0, true);
  if ((r = cli_positionals("cluster", argc, argv, optind, 1, 1, names, pos)) != 0)
    return r;
  if (strcmp(pos[0], "update") || !have)
    return cli_usage_err("cluster", "want: cluster update --cert-expiry DURATION");
  secs = ns / 1000000000ull;
  struct cli cl = {.socket = cli_socket_path(co.socket)};
  r = cli_call(&cl, "cluster update", NULL, WIRE_OP_CLUSTER_UPDATE, pack_update, &secs, &rep);
  cli_close(&cl);
  if (r)
    return r;
  fprintf(stderr, "secret: node certificates now last %" PRIu64 " s (new and renewed ones)\n",
          secs);
  return 0;
}
