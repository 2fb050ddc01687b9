/*
 * secret-agent, the node agent: internal interfaces of the executable. Each
 * verb is one file and returns the process exit status (0 ok, 1 failure,
 * 2 usage) after printing one clear line on failure.
 *
 * Exit status of `secret-agent run` (systemd/secret-agent.service keeps it
 * from restarting on AGENT_EXIT_REMOVED):
 *   0  stopped by SIGTERM / SIGINT
 *   1  failure (state directory, start-up)
 *   2  usage
 *   3  AGENT_EXIT_REMOVED: the manager said this node was removed from the
 *      cluster (deny list) or does not know it: its tasks were stopped and
 *      their state wiped; it must join again with a new token
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

#include <openssl/types.h>

#include "crypto/ca.h"

struct secbuf;

#define AGENT_KEY_FILE "node.key"
#define AGENT_CERT_FILE "node.crt"
#define AGENT_CA_FILE "ca.crt"
#define AGENT_ID_FILE "node.id"
#define AGENT_MANAGER_FILE "manager"
#define STORE_HOSTNAME_BUF 65
#define AGENT_EXIT_REMOVED 3

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

/*
 * The agent's check of a manager (join.c), the same for join, renew and every
 * connection of run: leaf must verify to root alone (X509_V_FLAG_X509_STRICT,
 * purpose serverAuth, at the current time), name cluster_id in its O and
 * carry the manager role in its OU. leaf and root are borrowed. Returns 0,
 * -ENOMEM, or -EKEYREJECTED with *why a static sentence for the refusal
 * (never NULL then).
 */
int agent_check_manager_cert(X509 *leaf, X509 *root, const char *cluster_id, const char **why);
/*
 * The cluster id a certificate names in its O (exactly one O entry of the id
 * form, ca_id_valid) into id. Returns 0 or -EBADMSG.
 */
int agent_cert_cluster_id(X509 *cert, char id[CA_ID_LEN + 1]);
