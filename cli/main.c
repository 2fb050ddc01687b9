/* `secret`: the operator's command for secretd. Global options, then one
 * verb from the table in verbs.c. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "cli/cli.h"

/* Standard output errors (a full disk, a closed pipe) are errors too. */
static int finish(int r) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (r == 0)
      cli_err("cannot write to standard output");
    return r ? r : CLI_EXIT_DAEMON;
  }
  return r;
}

int main(int argc, char **argv) {
  const char *socket = NULL;
  int i = 1;

  /* The process briefly holds a secret value: no core dumps. */
  setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
  if (sodium_init() < 0) {
    cli_err("cannot initialise libsodium");
    return CLI_EXIT_DAEMON;
  }
  /* Global options before the verb. */
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      cli_usage(stdout);
      return finish(0);
    } else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
      socket = argv[++i];
    } else if (!strncmp(argv[i], "--socket=", 9)) {
      socket = argv[i] + 9;
    } else if (!strcmp(argv[i], "--socket")) {
      return cli_usage_err(NULL, "option '--socket' needs a value");
    } else {
      return cli_usage_err(NULL, "unknown option '%.64s'", argv[i]);
    }
  }
  if (i == argc)
    return cli_usage_err(NULL, "missing VERB (one of create, ls, inspect, rotate, rm, grant, "
                               "revoke, service, audit, join-token, node, cluster)");
  if (!strcmp(argv[i], "help")) {
    const struct cli_verb *v = i + 1 < argc ? cli_verb_find(argv[i + 1]) : NULL;
    if (i + 1 < argc && !v)
      return cli_usage_err(NULL, "unknown verb '%.64s'", argv[i + 1]);
    v ? cli_verb_usage(v, stdout) : cli_usage(stdout);
    return finish(0);
  }
  const struct cli_verb *v = cli_verb_find(argv[i]);
  if (!v)
    return cli_usage_err(NULL, "unknown verb '%.64s'", argv[i]);
  /* A global --socket is the default; the verb's own --socket wins. */
  if (socket && setenv(CLI_SOCKET_ENV, socket, 1) < 0) {
    cli_err("out of memory");
    return CLI_EXIT_DAEMON;
  }
  return finish(v->run(argc - i, argv + i));
}
