/*
 * secret-agent: the node agent. `join` enrols this node in a cluster
 * (agent/join.c); `run` keeps its connection to the manager (agent/run.c). The process holds its private key: no core
 * dumps, not dumpable, OpenSSL's secure heap for parsed keys.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "agent/agent.h"

void agent_err(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "secret-agent: %s\n", buf);
}

static void usage(FILE *f) {
  fputs("Usage: secret-agent join --token-file FILE|- --manager HOST:PORT --state DIR\n"
        "                         [--key-type p256|ed25519]\n"
        "       secret-agent renew --state DIR [--key-type p256|ed25519]\n"
        "       secret-agent run --state DIR [--key-type p256|ed25519]\n\n"
        "The join token is read from FILE or standard input ('-'), never the command line.\n"
        "See secret-agent(8).\n",
        f);
}

int main(int argc, char **argv) {
  setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
  if (sodium_init() < 0) {
    agent_err("cannot initialise libsodium");
    return 1;
  }
  if (CRYPTO_secure_malloc_init(64 * 1024, 16) != 1)
    agent_err("warning: no OpenSSL secure heap; parsed keys use its ordinary heap");
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "join"))
    return agent_join(argc - 1, argv + 1);
  if (!strcmp(argv[1], "renew"))
    return agent_renew(argc - 1, argv + 1);
  if (!strcmp(argv[1], "run"))
    return agent_run(argc - 1, argv + 1);
  agent_err("unknown verb '%s' (try 'secret-agent --help')", argv[1]);
  return 2;
}
