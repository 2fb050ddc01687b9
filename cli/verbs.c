/* The verb table of `secret` and its help texts. */
#include <string.h>

#include "base/macro.h"
#include "cli/cli.h"

static const struct cli_verb verbs[] = {
    {"create", verb_create, "NAME [FILE|-] [--label K=V]...",
     "create a secret; its value comes from FILE or standard input, never the command line",
     "  --label K=V     attach a label (repeatable, at most 64)\n"
     "Reads the value to end of file (1 byte to 500 KiB). Without FILE, or with '-',\n"
     "the value is read from standard input, which must not be a terminal.\n"},
    {"ls", verb_ls, "[--json] [--page-size N]", "list secrets (never their values)",
     "  --json          print a JSON array of objects\n"
     "  --page-size N   ask secretd for N secrets per request (1 to 1000, default 1000);\n"
     "                  the output is the same\n"},
    {"inspect", verb_inspect, "NAME|ID [--json]",
     "show a secret's id, versions, labels and grants (never its value)",
     "  --json          print one JSON object\n"},
    {"rotate", verb_rotate, "NAME|ID [FILE|-]",
     "add a new version of a secret (value from FILE or standard input)",
     "Keeps the newest versions (5 by default); the value is read as for create.\n"},
    {"rm", verb_rm, "NAME|ID [--force]", "remove a secret and all its versions",
     "  --force         remove even while the secret is granted to services\n"},
    {"grant", verb_grant,
     "NAME|ID --service SVC [--target PATH] [--uid N] [--gid N] [--mode 0400] [--version N]",
     "let a service's containers read a secret as a file",
     "  --service SVC   the service (it may not exist yet)\n"
     "  --target PATH   file path below /run/secrets (default: the secret's name)\n"
     "  --uid N         owner uid of the file (default: the service's user, --user)\n"
     "  --gid N         group gid of the file (default: the service's group)\n"
     "  --mode MODE     octal file mode, at most 0777 (default 0400)\n"
     "  --version N     pin version N (default: follow the latest); granting again\n"
     "                  changes the pin, --version 0 follows the latest again\n"},
    {"revoke", verb_revoke, "NAME|ID --service SVC", "take a grant away from a service",
     "  --service SVC   the service whose grant is removed\n"},
    {"service", verb_service,
     "create NAME --rootfs DIR --node NODE [options] -- CMD [ARG...] | ls [--json] |\n"
     "       inspect NAME [--json] | ps NAME [--json] | rm NAME",
     "run a command in a container on a node, with its granted secrets",
     "create options (the launcher's, same rules as secret-launch):\n"
     "  --node NODE             the node's id or host name (required)\n"
     "  --rootfs DIR            the root filesystem, a directory on the node (required)\n"
     "  --restart POLICY        no (default), on-failure or always\n"
     "  --mount SRC:DST[:ro]    --memory SIZE      --cpus N.N        --pids-limit N\n"
     "  --cap-add CAP|ALL       --cap-drop CAP|ALL --user UID[:GID]  --read-only\n"
     "  --env K=V               --hostname NAME    --workdir DIR     --init\n"
     "  --stop-timeout SECONDS  --seccomp-profile FILE|unconfined (the file is read\n"
     "                          here; its content travels with the service)\n"
     "  --userns                a user namespace of its own: --user and grant owners\n"
     "                          are container ids (default map 0:100000:65536)\n"
     "  --uidmap C:H:N          --gidmap C:H:N (up to 5 ranges each; imply --userns)\n"
     "ps: each task's node, state, since, exit code and restarts.\n"
     "  --json          JSON output (ls, inspect, ps)\n"},
    {"audit", verb_audit,
     "[--since TIME] [--json] [--page-size N] | --verify [--expect-head SEQ:HASH]",
     "list or verify the audit chain",
     "  --since TIME    records since an RFC 3339 time (2026-11-29T01:00:00Z,\n"
     "                  2026-11-29T02:00:00+01:00) or a duration ago (90s, 15m, 1h, 2d)\n"
     "  --json          one JSON object per line, the shape of the audit file\n"
     "  --page-size N   ask secretd for N records per request (2 to 1000, default 1000)\n"
     "  --verify        verify the whole chain and print its head SEQ:HASH;\n"
     "                  exit status 1 naming the first bad record if it does not verify\n"
     "  --expect-head SEQ:HASH\n"
     "                  with --verify: also fail if records were cut off the end after\n"
     "                  this head was saved\n"},
    {"join-token", verb_join_token, "worker [--rotate] [--ttl DURATION] [--uses N] [--quiet]",
     "print a new token for joining nodes to the cluster, or the current one's status",
     "  --rotate        replace the token: the old one stops working at once\n"
     "  --ttl DURATION  lifetime of a new token (default 24h; 0 = never expires, audited)\n"
     "  --uses N        how many nodes a new token admits (default: no limit)\n"
     "  --quiet         print only the token\n"
     "secretd keeps only a hash of the token: it is shown once, when made.\n"},
    {"node", verb_node, "ls [--json] | inspect ID [--json] | rm ID [--force]",
     "list, inspect or remove the cluster's nodes",
     "  --json          print JSON\n"
     "  --force         remove a node that is still up\n"
     "A removed node's id stays on the deny list until its last certificate expires.\n"},
    {"cluster", verb_cluster, "update --cert-expiry DURATION", "change cluster settings",
     "  --cert-expiry DURATION\n"
     "                  lifetime of node certificates issued from now on (1h to 90d)\n"},
};

const struct cli_verb *cli_verb_find(const char *name) {
  for (size_t i = 0; name && i < ARRAY_SIZE(verbs); i++)
    if (!strcmp(verbs[i].name, name))
      return &verbs[i];
  return NULL;
}

void cli_verb_usage(const struct cli_verb *v, FILE *f) {
  if (!v)
    return;
  fprintf(f, "Usage: secret %s %s\n\n%s.\n\n", v->name, v->synopsis, v->summary);
  if (*v->help)
    fprintf(f, "%s", v->help);
  fprintf(f, "  --socket PATH   secretd's admin socket (default: $%s, else %s)\n"
             "  -h, --help      show this help\n",
          CLI_SOCKET_ENV, CLI_DEFAULT_SOCKET);
}

void cli_usage(FILE *f) {
  fprintf(f, "Usage: secret [--socket PATH] VERB [ARGS...]\n\n"
             "Manage the secrets, grants, audit log and nodes of secretd.\n\nVerbs:\n");
  for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
    fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
  fprintf(f, "\nOptions:\n"
             "  --socket PATH   secretd's admin socket (default: $%s, else %s)\n"
             "  -h, --help      show this help; 'secret VERB --help' shows a verb's\n\n"
             "Exit status: 0 ok, 1 error (reported by secretd or local), 2 usage,\n"
             "3 cannot reach secretd or the connection was lost.\n",
          CLI_SOCKET_ENV, CLI_DEFAULT_SOCKET);
}
