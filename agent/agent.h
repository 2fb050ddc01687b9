/*
 * secret-agent, the node agent: internal interfaces of the executable. Each
 * verb is one file and returns the process exit status (0 ok, 1 failure,
 * 2 usage) after printing one clear line on failure.
 *
 * State directory (0700, owned by the agent's user):
 *   node.key     the node's private key, DER (0600; never leaves the node)
 *   node.crt     its certificate from the manager, DER
 *   ca.crt       the cluster root, DER (checked against the join token)
 *   node.id      the node id, one line
 *   manager      the manager's HOST:PORT
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct secbuf;

#define AGENT_KEY_FILE "node.key"
#define AGENT_CERT_FILE "node.crt"
#define AGENT_CA_FILE "ca.crt"
#define AGENT_ID_FILE "node.id"
#define AGENT_MANAGER_FILE "manager"
#define STORE_HOSTNAME_BUF 65

/* "secret-agent: " + message + newline on stderr. */
void agent_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int agent_join(int argc, char **argv);
int agent_renew(int argc, char **argv);
int agent_run(int argc, char **argv);

/* State directory helpers (join.c). Open (creating 0700) and check DIR: ours,
 * no group/other bits; returns 0 and a directory fd, or -errno / -EPERM. */
int agent_open_state(const char *dir, int *ret);
/* Replace name atomically (write a temporary, fsync, rename) with mode. */
int agent_write_at(int dfd, const char *name, const void *p, size_t n, mode_t mode);
/* Read name (at most max bytes) into secret memory. */
int agent_read_at(int dfd, const char *name, size_t max, struct secbuf **ret);
