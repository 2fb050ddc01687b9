/*
 * secret-agent join --token-file FILE|- --manager HOST:PORT --state DIR
 *                   [--key-type p256|ed25519]
 *
 * 1. Read the join token (a secret: from a file or stdin, never argv) and
 *    parse it strictly (crypto/join_token.h).
 * 2. Connect with TLS 1.3. Nothing but the TLS handshake goes out before the
 *    manager is accepted: the root it shows must hash to the token's digest,
 *    its certificate must chain to that root, name this cluster (O = the
 *    root's cluster id) and carry the manager role (OU), with serverAuth.
 * 3. Create DIR (0700), generate the node key locally (0600; never sent),
 *    send a CSR (and, for a returning node, a signature by its previous key
 *    over the new CSR), store the certificate, the root and the node id.
 *
 * A blocking OpenSSL client: join is a one-shot command.
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "base/error.h"
#include "base/io.h"
#include "base/secbuf.h"
#include "crypto/ca.h"
#include "crypto/join_token.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/proto.h"

#define JOIN_TIMEOUT_MS 30000
#define TOKEN_FILE_MAX 512

/* ---- token input ---- */

static int read_token(const char *file, struct secbuf **ret) {
  int fd = strcmp(file, "-") == 0 ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct secbuf *b = NULL;
  if (fd < 0)
    return -errno;
  int r = secbuf_read_fd(fd, TOKEN_FILE_MAX, &b);
  if (fd != STDIN_FILENO)
    close(fd);
  if (r < 0)
    return r;
  size_t n = secbuf_len(b);
  /* one final newline is the file's, not the token's; anything else stays
   * and the parser refuses it (padding is an error, never trimmed) */
  if (n && secbuf_cdata(b)[n - 1] == '\n')
    n--;
  if ((r = secbuf_truncate(b, n)) < 0) {
    secbuf_free(b);
    return r;
  }
  *ret = b;
  return 0;
}

/* ---- connection ---- */

static int tcp_connect(const char *hostport, int *ret_fd) {
  char host[256];
  const char *colon = strrchr(hostport, ':');
  if (!colon || colon == hostport || !colon[1] || (size_t)(colon - hostport) >= sizeof(host))
    return -EINVAL;
  memcpy(host, hostport, (size_t)(colon - hostport));
  host[colon - hostport] = 0;
  char *h = host;
  size_t hl = strlen(h);
  if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
    h[hl - 1] = 0;
    h++;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(h, colon + 1, &hints, &res) != 0 || !res)
    return -EHOSTUNREACH;
  int r = -ECONNREFUSED;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    struct timeval tv = {JOIN_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      *ret_fd = fd;
      r = 0;
      break;
    }
    r = -errno;
    close(fd);
  }
  freeaddrinfo(res);
  return r;
}

static int name_entry(X509_NAME *n, int nid, char *buf, size_t len) {
  int i = X509_NAME_get_index_by_NID(n, nid, -1);
  if (i < 0 || X509_NAME_get_index_by_NID(n, nid, i) >= 0)
    return -1;
  ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
  int l = ASN1_STRING_length(s);
  if (l <= 0 || (size_t)l >= len)
    return -1;
  memcpy(buf, ASN1_STRING_get0_data(s), (size_t)l);
  buf[l] = 0;
  return strlen(buf) == (size_t)l ? 0 : -1;
}

/*
 * The manager check, before anything of ours is sent: find the root in the
 * chain the server showed whose SHA-256 is the token's digest, verify the
 * server certificate against that root alone (serverAuth), and check it is
 * the manager of the root's cluster. On success *ret_root is that root
 * (a reference) and cluster_id its id.
 */
static int check_manager(SSL *ssl, const uint8_t digest[JOIN_TOKEN_DIGEST_BYTES],
                         X509 **ret_root, char cluster_id[CA_ID_LEN + 1], const char **why) {
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
  X509 *leaf = SSL_get0_peer_certificate(ssl), *root = NULL;
  int r = -EKEYREJECTED;
  *why = "the manager showed no root certificate that matches the join token (another "
         "cluster, or an impostor)";
  for (int i = 0; chain && i < sk_X509_num(chain); i++) {
    X509 *x = sk_X509_value(chain, i);
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    if (len > 0 && join_token_check_ca(digest, der, (size_t)len) == 0)
      root = x;
    OPENSSL_free(der);
    if (root)
      break;
  }
  if (!root || !leaf)
    return r;
  if (agent_cert_cluster_id(root, cluster_id) < 0) {
    *why = "the root certificate the manager showed names no cluster";
    return r;
  }
  if ((r = agent_check_manager_cert(leaf, root, cluster_id, why)) < 0)
    return r;
  X509_up_ref(root);
  *ret_root = root;
  return 0;
}

int agent_cert_cluster_id(X509 *cert, char id[CA_ID_LEN + 1]) {
  char o[64];
  if (!cert || name_entry(X509_get_subject_name(cert), NID_organizationName, o, sizeof(o)) < 0 ||
      !ca_id_valid(o))
    return -EBADMSG;
  memcpy(id, o, CA_ID_LEN + 1);
  return 0;
}

int agent_check_manager_cert(X509 *leaf, X509 *root, const char *cluster_id, const char **why) {
  X509_STORE *st = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  char ou[32], o[64];
  int r = -EKEYREJECTED;
  *why = "no manager certificate";
  if (!leaf || !root || !cluster_id)
    goto out;
  if (!st || !ctx || X509_STORE_add_cert(st, root) != 1 ||
      X509_STORE_CTX_init(ctx, st, leaf, NULL) != 1) {
    *why = "out of memory";
    r = -ENOMEM;
    goto out;
  }
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx) != 1) {
    *why = "the manager certificate does not verify to the cluster root as a server "
           "certificate";
    goto out;
  }
  if (name_entry(X509_get_subject_name(leaf), NID_organizationName, o, sizeof(o)) < 0 ||
      strcmp(o, cluster_id) != 0) {
    *why = "the manager certificate is not of this cluster (its O is not the cluster id)";
    goto out;
  }
  if (name_entry(X509_get_subject_name(leaf), NID_organizationalUnitName, ou, sizeof(ou)) < 0 ||
      strcmp(ou, "manager") != 0) {
    *why = "the peer's certificate does not carry the manager role";
    goto out;
  }
  r = 0;
out:
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(st);
  ERR_clear_error();
  return r;
}

static int ssl_write_all(SSL *ssl, const uint8_t *p, size_t n) {
  while (n) {
    size_t w = 0;
    if (SSL_write_ex(ssl, p, n, &w) != 1)
      return -EIO;
    p += w;
    n -= w;
  }
  return 0;
}

static int ssl_read_all(SSL *ssl, uint8_t *p, size_t n) {
  while (n) {
    size_t got = 0;
    if (SSL_read_ex(ssl, p, n, &got) != 1)
      return -ECONNRESET;
    p += got;
    n -= got;
  }
  return 0;
}

/*
 * One request and its reply over a blocking TLS connection. The reply's frame
 * (at most 64 KiB) lands in secret memory: *ret_frame, which the caller frees
 * after it is done with *ret_val and resp (they point into it). Returns 0, or
 * -1 with one line printed: `lost` when the connection ends before the reply,
 * "bad reply" when the reply does not decode.
 */
static int ssl_call(SSL *ssl, enum wire_op op, wire_pack_fn pack, void *ud, const char *manager,
                    const char *lost, struct secbuf **ret_frame, struct wire_value **ret_val,
                    struct wire_response *resp) {
  struct wire_buf req = {0};
  struct wire_error werr;
  uint8_t hdr[4];
  int n = wire_request_encode(&req, 1, op, pack, ud);
  int r = n < 0 || ssl_write_all(ssl, req.data, (size_t)n) < 0 ||
          ssl_read_all(ssl, hdr, sizeof(hdr)) < 0;
  wire_buf_release(&req);
  if (r) {
    agent_err("%s", lost);
    return -1;
  }
  uint32_t flen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (flen == 0 || flen > 64 * 1024 || secbuf_new(flen, ret_frame) < 0 ||
      ssl_read_all(ssl, secbuf_data(*ret_frame), flen) < 0 ||
      wire_response_decode(secbuf_cdata(*ret_frame), flen, ret_val, resp, &werr) < 0) {
    agent_err("bad reply from %s", manager);
    return -1;
  }
  return 0;
}

/* ---- state directory ---- */

int agent_write_at(int dfd, const char *name, const void *p, size_t n, mode_t mode) {
  char tmp[64];
  snprintf(tmp, sizeof(tmp), ".%s.new", name);
  unlinkat(dfd, tmp, 0);
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return -errno;
  int r = sd_write_all(fd, p, n);
  if (r == 0 && fsync(fd) < 0)
    r = -errno;
  close(fd);
  if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
    r = -errno;
  if (r < 0)
    unlinkat(dfd, tmp, 0);
  return r;
}

int agent_read_at(int dfd, const char *name, size_t max, struct secbuf **ret) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int r = secbuf_read_fd(fd, max, ret);
  close(fd);
  return r;
}

int agent_open_state(const char *dir, int *ret) {
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return -errno;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0 || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
    close(fd);
    return -EPERM;
  }
  *ret = fd;
  return 0;
}

/* ---- the request ---- */

struct join_args {
  const struct secbuf *token;
  const uint8_t *csr;
  size_t csr_len;
  const char *hostname;
  const struct secbuf *old_cert;
  const uint8_t *pop;
  size_t pop_len;
};

static void pk_bin(msgpack_packer *pk, const char *k, const uint8_t *p, size_t n) {
  wire_pack_str(pk, k);
  msgpack_pack_bin(pk, n);
  msgpack_pack_bin_body(pk, p, n);
}

static void pack_join(msgpack_packer *pk, void *ud) {
  const struct join_args *a = ud;
  msgpack_pack_map(pk, 3 + (a->pop ? 2 : 0));
  pk_bin(pk, "token", secbuf_cdata(a->token), secbuf_len(a->token));
  pk_bin(pk, "csr", a->csr, a->csr_len);
  wire_pack_kv_str(pk, "hostname", a->hostname);
  if (a->pop) {
    pk_bin(pk, "old_cert", secbuf_cdata(a->old_cert), secbuf_len(a->old_cert));
    pk_bin(pk, "pop", a->pop, a->pop_len);
  }
}

static int usage(FILE *f) {
  fputs("usage: secret-agent join --token-file FILE|- --manager HOST:PORT --state DIR "
        "[--key-type p256|ed25519]\n",
        f);
  return 2;
}

int agent_join(int argc, char **argv) {
  static const struct option opts[] = {
      {"token-file", required_argument, NULL, 't'},
      {"manager", required_argument, NULL, 'm'},
      {"state", required_argument, NULL, 's'},
      {"key-type", required_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  const char *token_file = NULL, *manager = NULL, *state = NULL;
  enum ca_key_type kt = CA_KEY_P256;
  struct secbuf *token = NULL, *secret = NULL, *key = NULL, *old_key = NULL, *old_cert = NULL;
  uint8_t digest[JOIN_TOKEN_DIGEST_BYTES], *csr = NULL, *pop = NULL;
  size_t csr_len = 0, pop_len = 0;
  SSL_CTX *sctx = NULL;
  SSL *ssl = NULL;
  X509 *root = NULL;
  struct secbuf *frame = NULL;
  struct wire_value *val = NULL;
  char cluster_id[CA_ID_LEN + 1];
  const char *why = NULL;
  int fd = -1, dfd = -1, c, r, status = 1;

  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 't': token_file = optarg; break;
    case 'm': manager = optarg; break;
    case 's': state = optarg; break;
    case 'k':
      if (!strcmp(optarg, "p256"))
        kt = CA_KEY_P256;
      else if (!strcmp(optarg, "ed25519"))
        kt = CA_KEY_ED25519;
      else
        return agent_err("--key-type: want p256 or ed25519"), 2;
      break;
    case 'h': usage(stdout); return 0;
    default: return usage(stderr);
    }
  }
  if (!token_file || !manager || !state || optind != argc)
    return usage(stderr);

  if ((r = read_token(token_file, &token)) < 0) {
    agent_err("cannot read the join token from %s: %s", token_file, sd_strerror(r));
    goto out;
  }
  if ((r = join_token_parse((const char *)secbuf_cdata(token), secbuf_len(token), digest,
                            &secret)) < 0) {
    agent_err("join token refused: %s", join_token_strerror(r));
    goto out;
  }
  if ((r = tcp_connect(manager, &fd)) < 0) {
    agent_err("cannot connect to %s: %s", manager, sd_strerror(r));
    goto out;
  }
  sctx = SSL_CTX_new(TLS_client_method());
  if (!sctx || SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION) != 1 ||
      !(ssl = SSL_new(sctx)) || SSL_set_fd(ssl, fd) != 1) {
    agent_err("cannot set up TLS");
    goto out;
  }
  /* The chain is checked by hand against the token's digest below: no
   * trust store exists yet on a joining node. */
  SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
  if (SSL_connect(ssl) != 1) {
    unsigned long e = ERR_get_error();
    agent_err("TLS handshake with %s failed: %s", manager,
              e ? ERR_reason_error_string(e) ?: "protocol error" : "connection closed");
    goto out;
  }
  if ((r = check_manager(ssl, digest, &root, cluster_id, &why)) < 0) {
    agent_err("refusing manager %s: %s; nothing was sent", manager, why);
    goto out;
  }
  /* Accepted: now the state directory, the key and the CSR. */
  if ((r = agent_open_state(state, &dfd)) < 0) {
    agent_err("state directory %s: %s", state,
              r == -EPERM ? "must be ours and not accessible to others (0700)" : sd_strerror(r));
    goto out;
  }
  if ((r = ca_node_key_new(kt, &key)) < 0 || (r = ca_csr_new(key, &csr, &csr_len)) < 0) {
    agent_err("cannot make the node key: %s", ca_strerror(r));
    goto out;
  }
  /* A returning node proves its previous key (issue 9 section 7). */
  if (agent_read_at(dfd, AGENT_KEY_FILE, 16384, &old_key) == 0 &&
      agent_read_at(dfd, AGENT_CERT_FILE, 16384, &old_cert) == 0 &&
      ca_pop_sign(old_key, csr, csr_len, &pop, &pop_len) < 0) {
    free(pop);
    pop = NULL;
  }
  char host[STORE_HOSTNAME_BUF];
  if (gethostname(host, sizeof(host)) < 0)
    snprintf(host, sizeof(host), "unknown");
  host[sizeof(host) - 1] = 0;
  struct join_args ja = {token, csr, csr_len, host, old_cert, pop, pop_len};
  char lost[320];
  snprintf(lost, sizeof(lost), "lost the connection to %s during the join", manager);
  struct wire_response resp;
  if (ssl_call(ssl, WIRE_OP_NODE_JOIN, pack_join, &ja, manager, lost, &frame, &val, &resp) < 0)
    goto out;
  if (!resp.ok) {
    agent_err("join refused by the manager: %s", resp.error);
    goto out;
  }
  const msgpack_object *cert = wire_map_get(resp.result, "cert");
  const msgpack_object *nid = wire_map_get(resp.result, "node_id");
  if (!cert || cert->type != MSGPACK_OBJECT_BIN || !nid || nid->type != MSGPACK_OBJECT_STR ||
      nid->via.str.size != CA_ID_LEN) {
    agent_err("unexpected reply from %s", manager);
    goto out;
  }
  char node_id[CA_ID_LEN + 1];
  memcpy(node_id, nid->via.str.ptr, CA_ID_LEN);
  node_id[CA_ID_LEN] = 0;
  uint8_t *rder = NULL;
  int rlen = i2d_X509(root, &rder);
  char idline[CA_ID_LEN + 2];
  snprintf(idline, sizeof(idline), "%s\n", node_id);
  if (rlen <= 0 ||
      (r = agent_write_at(dfd, AGENT_KEY_FILE, secbuf_cdata(key), secbuf_len(key), 0600)) < 0 ||
      (r = agent_write_at(dfd, AGENT_CERT_FILE, cert->via.bin.ptr, cert->via.bin.size, 0644)) < 0 ||
      (r = agent_write_at(dfd, AGENT_CA_FILE, rder, (size_t)rlen, 0644)) < 0 ||
      (r = agent_write_at(dfd, AGENT_ID_FILE, idline, strlen(idline), 0644)) < 0 ||
      (r = agent_write_at(dfd, AGENT_MANAGER_FILE, manager, strlen(manager), 0644)) < 0) {
    OPENSSL_free(rder);
    agent_err("joined as %s but cannot write the state in %s: %s", node_id, state,
              sd_strerror(r));
    goto out;
  }
  OPENSSL_free(rder);
  printf("%s\n", node_id);
  fprintf(stderr, "secret-agent: joined cluster %s as node %s%s\n", cluster_id, node_id,
          pop ? " (returning node)" : "");
  status = 0;
out:
  if (ssl)
    SSL_shutdown(ssl);
  SSL_free(ssl);
  SSL_CTX_free(sctx);
  X509_free(root);
  if (fd >= 0)
    close(fd);
  if (dfd >= 0)
    close(dfd);
  wire_value_free(val);
  secbuf_free(frame);
  secbuf_free(token);
  secbuf_free(secret);
  secbuf_free(key);
  secbuf_free(old_key);
  secbuf_free(old_cert);
  free(csr);
  free(pop);
  sodium_memzero(digest, sizeof(digest));
  ERR_clear_error();
  return status;
}

/* ---- secret-agent renew --state DIR [--key-type p256|ed25519] ----
 * A new key and certificate for this node over mutual TLS with its current
 * certificate; the manager then accepts only the new one. (The long-lived
 * connection will do this at 50-80 % of the lifetime; this one-shot verb is
 * what an operator or a timer can run until then.) */

static int read_x509_at(int dfd, const char *name, X509 **ret, struct secbuf **ret_der) {
  struct secbuf *b = NULL;
  int r = agent_read_at(dfd, name, 16384, &b);
  if (r < 0)
    return r;
  const uint8_t *p = secbuf_cdata(b);
  X509 *x = d2i_X509(NULL, &p, (long)secbuf_len(b));
  if (!x) {
    secbuf_free(b);
    return -EBADMSG;
  }
  *ret = x;
  if (ret_der)
    *ret_der = b;
  else
    secbuf_free(b);
  return 0;
}

static void pack_renew(msgpack_packer *pk, void *ud) {
  const struct join_args *a = ud;
  msgpack_pack_map(pk, 1);
  pk_bin(pk, "csr", a->csr, a->csr_len);
}

int agent_renew(int argc, char **argv) {
  static const struct option opts[] = {
      {"state", required_argument, NULL, 's'},
      {"key-type", required_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  const char *state = NULL;
  enum ca_key_type kt = CA_KEY_P256;
  struct secbuf *key = NULL, *old_key = NULL, *mgr = NULL, *root_der = NULL, *frame = NULL;
  X509 *root = NULL, *cert = NULL, *shown_root = NULL;
  EVP_PKEY *pk = NULL;
  SSL_CTX *sctx = NULL;
  SSL *ssl = NULL;
  uint8_t *csr = NULL, digest[JOIN_TOKEN_DIGEST_BYTES];
  size_t csr_len = 0;
  struct wire_value *val = NULL;
  char manager[256], cluster_id[CA_ID_LEN + 1];
  const char *why = NULL;
  int fd = -1, dfd = -1, c, r, status = 1;

  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 's': state = optarg; break;
    case 'k':
      if (!strcmp(optarg, "p256"))
        kt = CA_KEY_P256;
      else if (!strcmp(optarg, "ed25519"))
        kt = CA_KEY_ED25519;
      else
        return agent_err("--key-type: want p256 or ed25519"), 2;
      break;
    case 'h': puts("usage: secret-agent renew --state DIR [--key-type p256|ed25519]"); return 0;
    default: return 2;
    }
  }
  if (!state || optind != argc) {
    agent_err("usage: secret-agent renew --state DIR [--key-type p256|ed25519]");
    return 2;
  }
  if ((r = agent_open_state(state, &dfd)) < 0 || (r = agent_read_at(dfd, AGENT_MANAGER_FILE, 255, &mgr)) < 0 ||
      (r = read_x509_at(dfd, AGENT_CA_FILE, &root, &root_der)) < 0 ||
      (r = read_x509_at(dfd, AGENT_CERT_FILE, &cert, NULL)) < 0 ||
      (r = agent_read_at(dfd, AGENT_KEY_FILE, 16384, &old_key)) < 0) {
    agent_err("state directory %s: %s (has this node joined?)", state, sd_strerror(r));
    goto out;
  }
  memcpy(manager, secbuf_cdata(mgr), secbuf_len(mgr));
  manager[secbuf_len(mgr)] = 0;
  const uint8_t *kp = secbuf_cdata(old_key);
  if (!(pk = d2i_AutoPrivateKey(NULL, &kp, (long)secbuf_len(old_key))) ||
      join_token_ca_digest(secbuf_cdata(root_der), secbuf_len(root_der), digest) < 0) {
    agent_err("state directory %s: unreadable key or root", state);
    goto out;
  }
  if ((r = tcp_connect(manager, &fd)) < 0) {
    agent_err("cannot connect to %s: %s", manager, sd_strerror(r));
    goto out;
  }
  sctx = SSL_CTX_new(TLS_client_method());
  if (!sctx || SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_use_certificate(sctx, cert) != 1 || SSL_CTX_use_PrivateKey(sctx, pk) != 1 ||
      !(ssl = SSL_new(sctx)) || SSL_set_fd(ssl, fd) != 1) {
    agent_err("cannot set up TLS with the node certificate");
    goto out;
  }
  SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL); /* checked against our root below */
  if (SSL_connect(ssl) != 1) {
    agent_err("TLS handshake with %s failed", manager);
    goto out;
  }
  if ((r = check_manager(ssl, digest, &shown_root, cluster_id, &why)) < 0) {
    agent_err("refusing manager %s: %s; nothing was sent", manager, why);
    goto out;
  }
  if ((r = ca_node_key_new(kt, &key)) < 0 || (r = ca_csr_new(key, &csr, &csr_len)) < 0) {
    agent_err("cannot make the new node key: %s", ca_strerror(r));
    goto out;
  }
  struct join_args ja = {.csr = csr, .csr_len = csr_len};
  char lost[400];
  snprintf(lost, sizeof(lost),
           "lost the connection to %s (refused at the handshake? the node may have been "
           "removed, or its certificate expired: join again)",
           manager);
  struct wire_response resp;
  if (ssl_call(ssl, WIRE_OP_NODE_RENEW, pack_renew, &ja, manager, lost, &frame, &val, &resp) < 0)
    goto out;
  if (!resp.ok) {
    agent_err("renewal refused by the manager: %s", resp.error);
    goto out;
  }
  const msgpack_object *nc = wire_map_get(resp.result, "cert");
  if (!nc || nc->type != MSGPACK_OBJECT_BIN) {
    agent_err("unexpected reply from %s", manager);
    goto out;
  }
  if ((r = agent_write_at(dfd, AGENT_KEY_FILE, secbuf_cdata(key), secbuf_len(key), 0600)) < 0 ||
      (r = agent_write_at(dfd, AGENT_CERT_FILE, nc->via.bin.ptr, nc->via.bin.size, 0644)) < 0) {
    agent_err("renewed but cannot write the state in %s: %s", state, sd_strerror(r));
    goto out;
  }
  fprintf(stderr, "secret-agent: certificate renewed (cluster %s)\n", cluster_id);
  status = 0;
out:
  if (ssl)
    SSL_shutdown(ssl);
  SSL_free(ssl);
  SSL_CTX_free(sctx);
  EVP_PKEY_free(pk);
  X509_free(root);
  X509_free(cert);
  X509_free(shown_root);
  if (fd >= 0)
    close(fd);
  if (dfd >= 0)
    close(dfd);
  wire_value_free(val);
  secbuf_free(frame);
  secbuf_free(key);
  secbuf_free(old_key);
  secbuf_free(mgr);
  secbuf_free(root_der);
  free(csr);
  ERR_clear_error();
  return status;
}
