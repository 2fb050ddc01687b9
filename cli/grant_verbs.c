/* Verbs on grants: grant (secret x service, with target, uid, gid, mode) and
 * revoke. The daemon validates target and mode; the CLI parses numbers. */
#include <getopt.h>
#include <string.h>

#include <msgpack.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "cli/opts.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct wire_reply *, wire_reply_free)

static const struct option grant_opts[] = {
    {"service", required_argument, NULL, OPT_SERVICE},
    {"target", required_argument, NULL, OPT_TARGET},
    {"uid", required_argument, NULL, OPT_UID},
    {"gid", required_argument, NULL, OPT_GID},
    {"mode", required_argument, NULL, OPT_MODE},
    {"version", required_argument, NULL, OPT_VERSION},
    CLI_COMMON_LONGOPTS,
    CLI_LONGOPTS_END};

static int grant_opt(struct grant_args *a, int c, const char *arg) {
  switch (c) {
  case OPT_SERVICE:
    a->service = arg;
    return 0;
  case OPT_TARGET:
    a->target = arg;
    return 0;
  case OPT_UID:
    a->has_uid = true;
    return cli_parse_u32(arg, &a->uid) < 0
               ? cli_usage_err("grant", "--uid wants a number, got '%.32s'", arg)
               : 0;
  case OPT_GID:
    a->has_gid = true;
    return cli_parse_u32(arg, &a->gid) < 0
               ? cli_usage_err("grant", "--gid wants a number, got '%.32s'", arg)
               : 0;
  case OPT_MODE:
    a->has_mode = true;
    return cli_parse_mode(arg, &a->mode) < 0
               ? cli_usage_err("grant", "--mode wants an octal mode like 0400, got '%.32s'", arg)
               : 0;
  case OPT_VERSION:
    a->has_version = true;
    return cli_parse_u32(arg, &a->version) < 0
               ? cli_usage_err("grant", "--version wants a version number, got '%.32s'", arg)
               : 0;
  default:
    return -1;
  }
}

int grant_parse(int argc, char **argv, struct grant_args *a) {
  static const char *const names[] = {"NAME"};
  int c, r;

  memset(a, 0, sizeof(*a));
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, grant_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &a->co))
      continue;
    if ((r = grant_opt(a, c, optarg)) < 0)
      return cli_bad_option("grant", c, optopt, argv, optind);
    if (r)
      return r;
  }
  if (a->co.help)
    return 0;
  if ((r = cli_positionals("grant", argc, argv, optind, 1, 1, names, &a->name)) != 0)
    return r;
  if (!a->service || !*a->service)
    return cli_usage_err("grant", "--service SVC is required");
  if (a->target && !*a->target)
    return cli_usage_err("grant", "--target is empty");
  return 0;
}

static void pack_grant(msgpack_packer *pk, void *ud) {
  const struct grant_args *a = ud;
  msgpack_pack_map(pk, 2 + !!a->target + a->has_uid + a->has_gid + a->has_mode +
                           a->has_version);
  wire_pack_kv_str(pk, "ref", a->name);
  wire_pack_kv_str(pk, "service", a->service);
  if (a->target)
    wire_pack_kv_str(pk, "target", a->target);
  if (a->has_uid)
    wire_pack_kv_uint(pk, "uid", a->uid);
  if (a->has_gid)
    wire_pack_kv_uint(pk, "gid", a->gid);
  if (a->has_mode)
    wire_pack_kv_uint(pk, "mode", a->mode);
  if (a->has_version)
    wire_pack_kv_uint(pk, "version", a->version);
}

int verb_grant(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct grant_args a;
  char what[200], id[65], name[260];
  int r;
  if ((r = grant_parse(argc, argv, &a)) != 0 || a.co.help)
    return cli_parsed("grant", r, a.co.help);
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  snprintf(what, sizeof(what), "grant %.64s --service %.64s", a.name, a.service);
  cli_printable(what);
  r = cli_call(&c, what, NULL, WIRE_OP_GRANT_ADD, pack_grant, &a, &rep);
  cli_close(&c);
  if (r == 0 && (r = cli_reply_target(rep->r.result, id, name)) == 0)
    printf("granted %s (id %s) to service %s\n", name, id, a.service);
  return r;
}

static const struct option revoke_opts[] = {
    {"service", required_argument, NULL, OPT_SERVICE}, CLI_COMMON_LONGOPTS, CLI_LONGOPTS_END};

int revoke_parse(int argc, char **argv, struct revoke_args *a) {
  static const char *const names[] = {"NAME"};
  int c, r;

  memset(a, 0, sizeof(*a));
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, revoke_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &a->co))
      continue;
    if (c != OPT_SERVICE)
      return cli_bad_option("revoke", c, optopt, argv, optind);
    a->service = optarg;
  }
  if (a->co.help)
    return 0;
  if ((r = cli_positionals("revoke", argc, argv, optind, 1, 1, names, &a->name)) != 0)
    return r;
  if (!a->service || !*a->service)
    return cli_usage_err("revoke", "--service SVC is required");
  return 0;
}

static void pack_revoke(msgpack_packer *pk, void *ud) {
  const struct revoke_args *a = ud;
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "ref", a->name);
  wire_pack_kv_str(pk, "service", a->service);
}

int verb_revoke(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct revoke_args a;
  char what[200], id[65], name[260];
  int r;
  if ((r = revoke_parse(argc, argv, &a)) != 0 || a.co.help)
    return cli_parsed("revoke", r, a.co.help);
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  snprintf(what, sizeof(what), "revoke %.64s --service %.64s", a.name, a.service);
  cli_printable(what);
  r = cli_call(&c, what, "no such secret, or it is not granted to that service", WIRE_OP_GRANT_RM,
               pack_revoke, &a, &rep);
  cli_close(&c);
  if (r == 0 && (r = cli_reply_target(rep->r.result, id, name)) == 0)
    printf("revoked %s (id %s) from service %s\n", name, id, a.service);
  return r;
}
