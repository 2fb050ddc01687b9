/*
 * secret-agent run --state DIR [--key-type p256|ed25519]
 *
 * The node's long-lived connection to its manager, in the foreground (for
 * systemd, Type=simple): mutual TLS 1.3 with the node certificate from DIR
 * to the manager address saved at join (wire/async_client.h: hello,
 * heartbeats, pushes with acks and resume, jittered exponential reconnect,
 * TLS session resumption). After each connection it reports itself
 * (node.hello: its hostname; the manager records the address it sees).
 *
 * Renewal: once per certificate, at a point between 50 % and 80 % of its
 * lifetime, the agent makes a new key and renews over the live connection
 * (node.renew); the new key (0600) and certificate replace the old ones
 * atomically in DIR and serve the next connection, while the current one
 * goes on. The point is drawn from the certificate's serial: random across
 * nodes, stable across restarts of one node. The lifetime starts at issue
 * (notBefore + CA_SKEW_SECONDS), or when a renewed certificate arrived.
 *
 * The manager is checked on every connection as `join` checks it
 * (agent_check_manager_cert, join.c): its certificate must verify to the
 * root in DIR as a server certificate, name this node's cluster (the O of
 * the node's own certificate) and carry the manager role (OU). A peer that
 * fails is refused inside the TLS handshake, before the node's certificate
 * or any request is sent, with one clear line; the agent then retries as
 * after any failed connection.
 *
 * Removal: when the manager says the node was removed (deny list) or does
 * not know it (both on a live session and when a connection is refused at
 * its start), the agent stops its tasks, wipes their state, and exits with
 * AGENT_EXIT_REMOVED (3): retrying could only be refused again.
 *
 * SIGTERM / SIGINT end it cleanly (exit 0). The private keys stay in secret
 * memory (secbuf) and OpenSSL's secure heap.
 */
#include "agent/agent.h"
#include "agent/delivery.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <uv.h>

#include "base/error.h"
#include "base/secbuf.h"
#include "crypto/ca.h"
#include "store/identity.h"
#include "wire/async_client.h"
#include "wire/msg.h"
#include "wire/proto.h"
#include "wire/tls.h"

/* Renewal that failed (no session, refused) is tried again after this. */
#define RENEW_RETRY_MS 30000u
/* Never renew again sooner than this after a renewal (clock trouble). */
#define RENEW_MIN_GAP_MS 60000u

struct agent {
  uv_loop_t loop;
  int dfd;
  const char *state;
  enum ca_key_type kt;
  char manager[256], host[128];
  int port;
  char node_id[CA_ID_LEN + 1];
  char cluster_id[CA_ID_LEN + 1]; /* the O of the node's certificate */
  char hostname[STORE_HOSTNAME_BUF];
  X509 *root;
  struct wire_tls_ctx *ctx, *old_ctx; /* old: the live session may still use it */
  struct wire_aclient *ac;
  uv_timer_t renew_timer;
  uv_signal_t sig_term, sig_int;
  uv_timer_t stop_timer; /* removal: stop from the loop, not inside a callback */
  bool was_up, renewing, stopping, removed;
  const char *refused_why, *last_refused_why; /* the manager check's last refusal */
  int last_down;
  int64_t cert_base_s, cert_not_after_s; /* the current certificate's lifetime */
  uint64_t last_renew_ms;
  struct secbuf *new_key; /* during a renewal */
  struct agent_delivery *delivery; /* agent/delivery.h, or NULL */
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "secret-agent: %s\n", buf);
  fflush(stderr);
}

static int parse_hostport(const char *s, char *host, size_t hlen, int *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || !colon[1])
    return -EINVAL;
  size_t n = (size_t)(colon - s);
  if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
    s++;
    n -= 2;
  }
  if (n >= hlen)
    return -EINVAL;
  memcpy(host, s, n);
  host[n] = 0;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p <= 0 || p > 65535)
    return -EINVAL;
  *port = (int)p;
  return 0;
}

static int64_t asn1_time_s(const ASN1_TIME *t) {
  struct tm tm;
  if (ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return (int64_t)timegm(&tm);
}

/* Every connection, inside the handshake: is the server our cluster's manager? */
static int check_server(X509 *leaf, STACK_OF(X509) *chain, void *ud) {
  struct agent *a = ud;
  const char *why = NULL;
  (void)chain;
  int r = agent_check_manager_cert(leaf, a->root, a->cluster_id, &why);
  a->refused_why = r < 0 ? why : NULL;
  return r;
}

/* A client context with cert (DER) and key (DER, secret). */
static int make_ctx(struct agent *a, const uint8_t *cert_der, size_t cert_len,
                    const struct secbuf *key_der, struct wire_tls_ctx **ret, X509 **ret_cert) {
  const uint8_t *p = cert_der;
  X509 *cert = d2i_X509(NULL, &p, (long)cert_len);
  p = secbuf_cdata(key_der);
  EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)secbuf_len(key_der));
  int r = -EBADMSG;
  if (cert && key) {
    struct wire_tls_config cfg = {
        .role = WIRE_TLS_CLIENT,
        .ca_cert = a->root,
        .cert = cert,
        .key = key,
        .check_server = check_server,
        .check_server_ud = a,
    };
    r = wire_tls_ctx_new(&cfg, ret);
  }
  EVP_PKEY_free(key);
  if (r == 0 && ret_cert)
    *ret_cert = cert;
  else
    X509_free(cert);
  ERR_clear_error();
  return r;
}

/* ---- renewal ---- */

static void renew_start(uv_timer_t *t);

/* Plan the renewal of the certificate cert (base_s: start of its lifetime). */
static void renew_plan(struct agent *a, X509 *cert, int64_t base_s) {
  a->cert_base_s = base_s;
  a->cert_not_after_s = asn1_time_s(X509_get0_notAfter(cert));
  int64_t life = a->cert_not_after_s - base_s;
  if (life < 60)
    life = 60;
  /* the fraction from the serial: in [0.5, 0.8] */
  const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
  uint8_t h[8];
  crypto_generichash(h, sizeof(h), ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn),
                     NULL, 0);
  uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  uint32_t permille = 500 + v % 301; /* 500..800 */
  int64_t at = base_s + life * permille / 1000;
  int64_t now = (int64_t)time(NULL);
  uint64_t delay_ms = at > now ? (uint64_t)(at - now) * 1000u : 0;
  uint64_t since = uv_now(&a->loop) - a->last_renew_ms;
  if (a->last_renew_ms && since < RENEW_MIN_GAP_MS && delay_ms < RENEW_MIN_GAP_MS - since)
    delay_ms = RENEW_MIN_GAP_MS - since;
  char when[32];
  time_t tt = (time_t)at;
  struct tm tm;
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
  logf_("certificate renewal planned at %s (%u.%u%% of its lifetime), in %llu s", when,
        permille / 10, permille % 10, (unsigned long long)(delay_ms / 1000));
  uv_timer_start(&a->renew_timer, renew_start, delay_ms, 0);
}

static void pack_csr(msgpack_packer *pk, void *ud) {
  const struct secbuf *csr = ud;
  msgpack_pack_map(pk, 1);
  wire_pack_str(pk, "csr");
  msgpack_pack_bin(pk, secbuf_len(csr));
  msgpack_pack_bin_body(pk, secbuf_cdata(csr), secbuf_len(csr));
}

static void renew_retry(struct agent *a, const char *why) {
  logf_("certificate renewal failed (%s); trying again in %u s", why, RENEW_RETRY_MS / 1000);
  a->renewing = false;
  secbuf_free(a->new_key);
  a->new_key = NULL;
  if (!a->stopping)
    uv_timer_start(&a->renew_timer, renew_start, RENEW_RETRY_MS, 0);
}

static void on_renewed(struct wire_session *s, int status, const struct wire_response *resp,
                       void *ud) {
  struct agent *a = ud;
  (void)s;
  if (status < 0 || !a->new_key) {
    renew_retry(a, status < 0 ? sd_strerror(status) : "stopped");
    return;
  }
  if (!resp->ok) {
    renew_retry(a, resp->error);
    return;
  }
  const msgpack_object *nc = wire_map_get(resp->result, "cert");
  struct wire_tls_ctx *ctx = NULL;
  X509 *cert = NULL;
  int r;
  if (!nc || nc->type != MSGPACK_OBJECT_BIN) {
    renew_retry(a, "unexpected reply");
    return;
  }
  if ((r = make_ctx(a, (const uint8_t *)nc->via.bin.ptr, nc->via.bin.size, a->new_key, &ctx,
                    &cert)) < 0) {
    renew_retry(a, "the new certificate does not load");
    return;
  }
  /* key first: a crash in between leaves a key that matches no certificate
   * on disk only for the node's next join, never a certificate without its key */
  if ((r = agent_write_at(a->dfd, AGENT_KEY_FILE, secbuf_cdata(a->new_key),
                          secbuf_len(a->new_key), 0600)) < 0 ||
      (r = agent_write_at(a->dfd, AGENT_CERT_FILE, nc->via.bin.ptr, nc->via.bin.size, 0644)) <
          0) {
    logf_("renewed, but cannot write the state in %s: %s (the new certificate serves until "
          "the agent stops)",
          a->state, sd_strerror(r));
  }
  secbuf_free(a->new_key);
  a->new_key = NULL;
  /* the live session goes on with the old context; the next one uses the new */
  wire_tls_ctx_free(a->old_ctx);
  a->old_ctx = a->ctx;
  a->ctx = ctx;
  wire_aclient_set_tls(a->ac, ctx);
  a->renewing = false;
  a->last_renew_ms = uv_now(&a->loop);
  logf_("certificate renewed over the live connection (valid until %lld)",
        (long long)asn1_time_s(X509_get0_notAfter(cert)));
  renew_plan(a, cert, (int64_t)time(NULL));
  X509_free(cert);
}

static void renew_start(uv_timer_t *t) {
  struct agent *a = t->data;
  uint8_t *csr = NULL;
  size_t csr_len = 0;
  struct secbuf *csrb = NULL;
  int r;
  if (a->renewing || a->stopping)
    return;
  if (!wire_aclient_session(a->ac) || !a->was_up) {
    renew_retry(a, "not connected");
    return;
  }
  if ((r = ca_node_key_new(a->kt, &a->new_key)) < 0 ||
      (r = ca_csr_new(a->new_key, &csr, &csr_len)) < 0 || (r = secbuf_from(csr, csr_len, &csrb)) < 0) {
    free(csr);
    renew_retry(a, "cannot make the new key");
    return;
  }
  free(csr);
  a->renewing = true;
  int64_t id = wire_aclient_call(a->ac, WIRE_OP_NODE_RENEW, pack_csr, csrb, on_renewed, a);
  secbuf_free(csrb);
  if (id < 0)
    renew_retry(a, sd_strerror((int)id));
}

/* ---- the connection ---- */

static void pack_hello(msgpack_packer *pk, void *ud) {
  const struct agent *a = ud;
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "hostname", a->hostname);
}

static void on_hello_reply(struct wire_session *s, int status, const struct wire_response *resp,
                           void *ud) {
  struct agent *a = ud;
  (void)s;
  if (status < 0)
    return;
  if (!resp->ok) {
    logf_("the manager refused this node's report: %s", resp->error);
    return;
  }
  const msgpack_object *addr = wire_map_get(resp->result, "address");
  logf_("connected to %s as node %s (%s%s%.*s)", a->manager, a->node_id, a->hostname,
        addr && addr->type == MSGPACK_OBJECT_STR ? ", address " : "",
        addr && addr->type == MSGPACK_OBJECT_STR ? (int)addr->via.str.size : 0,
        addr && addr->type == MSGPACK_OBJECT_STR ? addr->via.str.ptr : "");
}

static void on_up(struct wire_aclient *c, uint32_t version, void *ud) {
  struct agent *a = ud;
  (void)version;
  a->was_up = true;
  a->last_down = 0;
  if (wire_aclient_call(c, WIRE_OP_NODE_HELLO, pack_hello, a, on_hello_reply, a) < 0)
    logf_("cannot report to the manager");
  agent_delivery_on_up(a->delivery);
}

static void stop_all(struct agent *a) {
  a->stopping = true;
  wire_aclient_free(a->ac);
  a->ac = NULL;
  agent_delivery_close(a->delivery); /* containers keep running (none after a removal) */
  a->delivery = NULL;
  uv_close((uv_handle_t *)&a->renew_timer, NULL);
  uv_close((uv_handle_t *)&a->stop_timer, NULL);
  uv_close((uv_handle_t *)&a->sig_term, NULL);
  uv_close((uv_handle_t *)&a->sig_int, NULL);
}

static void on_stop_timer(uv_timer_t *t) {
  struct agent *a = t->data;
  if (!a->stopping)
    stop_all(a);
}

/* The manager's word that this node is out of the cluster: removed (deny
 * list), or unknown to it (its record gone: removed long ago, or the store
 * restored from a backup older than the join). */
static bool node_removed_code(int reason) {
  return reason == STORE_ID_E_DENIED || reason == STORE_ID_E_UNKNOWN;
}

static void on_down(struct wire_aclient *c, int reason, void *ud) {
  struct agent *a = ud;
  (void)c;
  if (a->stopping || a->removed)
    return;
  const char *refused = reason == -EKEYREJECTED ? a->refused_why : NULL;
  a->refused_why = NULL;
  if (refused) {
    /* the manager check failed inside the handshake: nothing was sent */
    if (a->was_up || reason != a->last_down || refused != a->last_refused_why)
      logf_("refusing manager %s: %s; nothing was sent; reconnecting", a->manager, refused);
  } else if (node_removed_code(reason)) {
    logf_("connection to %s %s: %s", a->manager, a->was_up ? "lost" : "refused",
          reason == STORE_ID_E_DENIED ? "the node is on the deny list (removed)"
                                      : "the manager does not know this node");
  } else if (a->was_up || reason != a->last_down) {
    /* the manager's own codes (renewed since, ...) are not errnos */
    char why[64];
    if (strcmp(sd_strerror(reason), "unknown error") != 0)
      snprintf(why, sizeof(why), "%s", sd_strerror(reason));
    else
      snprintf(why, sizeof(why), "refused by the manager (code %d)", reason);
    logf_("connection to %s %s: %s; reconnecting", a->manager, a->was_up ? "lost" : "failed",
          why);
  }
  a->was_up = false;
  a->last_down = reason;
  a->last_refused_why = refused;
  /* only the manager's word that the node was removed stops the tasks: a
   * mere disconnect keeps them and their delivered secrets. The word comes
   * from a peer that passed the manager check (check_server). */
  if (node_removed_code(reason)) {
    agent_delivery_node_removed(a->delivery); /* stops every task, wipes their state */
    a->removed = true;
    logf_("this node was removed from the cluster; join again with a new token "
          "(`secret-agent join`); exiting with status %d",
          AGENT_EXIT_REMOVED);
    uv_timer_start(&a->stop_timer, on_stop_timer, 0, 0);
  }
}

static void on_push(struct wire_aclient *c, const struct wire_push *p, void *ud) {
  struct agent *a = ud;
  (void)c;
  agent_delivery_on_push(a->delivery, p);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct agent *a = h->data;
  if (a->stopping)
    return;
  logf_("stopping (signal %d)", signum);
  stop_all(a);
}

static int read_x509(int dfd, const char *name, X509 **ret, struct secbuf **ret_der) {
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

static const char usage_line[] = "usage: secret-agent run --state DIR [--key-type p256|ed25519] [--delivery-dir DIR]";

int agent_run(int argc, char **argv) {
  static const struct option opts[] = {
      {"state", required_argument, NULL, 's'},
      {"key-type", required_argument, NULL, 'k'},
      {"delivery-dir", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  struct agent a = {.dfd = -1, .kt = CA_KEY_P256};
  struct secbuf *mgr = NULL, *id = NULL, *key = NULL, *cert_der = NULL;
  X509 *cert = NULL;
  int c, r, status = 1;
  const char *delivery_dir = NULL;
  char ddir_buf[4096];

  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 's': a.state = optarg; break;
    case 'd': delivery_dir = optarg; break;
    case 'k':
      if (!strcmp(optarg, "p256"))
        a.kt = CA_KEY_P256;
      else if (!strcmp(optarg, "ed25519"))
        a.kt = CA_KEY_ED25519;
      else
        return agent_err("--key-type: want p256 or ed25519"), 2;
      break;
    case 'h': puts(usage_line); return 0;
    default: return 2;
    }
  }
  if (!a.state || optind != argc) {
    agent_err("%s", usage_line);
    return 2;
  }
  if ((r = agent_open_state(a.state, &a.dfd)) < 0 ||
      (r = agent_read_at(a.dfd, AGENT_MANAGER_FILE, 255, &mgr)) < 0 ||
      (r = agent_read_at(a.dfd, AGENT_ID_FILE, 64, &id)) < 0 ||
      (r = read_x509(a.dfd, AGENT_CA_FILE, &a.root, NULL)) < 0 ||
      (r = agent_read_at(a.dfd, AGENT_CERT_FILE, 16384, &cert_der)) < 0 ||
      (r = agent_read_at(a.dfd, AGENT_KEY_FILE, 16384, &key)) < 0) {
    agent_err("state directory %s: %s (has this node joined? `secret-agent join`)", a.state,
              sd_strerror(r));
    goto out;
  }
  memcpy(a.manager, secbuf_cdata(mgr), secbuf_len(mgr));
  a.manager[secbuf_len(mgr)] = 0;
  size_t idn = secbuf_len(id);
  while (idn && (((const char *)secbuf_cdata(id))[idn - 1] == '\n'))
    idn--;
  if (idn > CA_ID_LEN)
    idn = CA_ID_LEN;
  memcpy(a.node_id, secbuf_cdata(id), idn);
  if (parse_hostport(a.manager, a.host, sizeof(a.host), &a.port) < 0) {
    agent_err("state directory %s: bad manager address '%s'", a.state, a.manager);
    goto out;
  }
  if (gethostname(a.hostname, sizeof(a.hostname) - 1) < 0 || !a.hostname[0])
    snprintf(a.hostname, sizeof(a.hostname), "unknown");
  if ((r = make_ctx(&a, secbuf_cdata(cert_der), secbuf_len(cert_der), key, &a.ctx, &cert)) < 0) {
    agent_err("state directory %s: the node certificate or key does not load", a.state);
    goto out;
  }
  secbuf_free(key);
  key = NULL;
  if (agent_cert_cluster_id(cert, a.cluster_id) < 0) {
    agent_err("state directory %s: the node certificate names no cluster", a.state);
    goto out;
  }
  if ((r = uv_loop_init(&a.loop)) < 0) {
    agent_err("cannot start: %s", uv_strerror(r));
    goto out;
  }
  uv_timer_init(&a.loop, &a.renew_timer);
  a.renew_timer.data = &a;
  uv_timer_init(&a.loop, &a.stop_timer);
  a.stop_timer.data = &a;
  uv_signal_init(&a.loop, &a.sig_term);
  uv_signal_init(&a.loop, &a.sig_int);
  a.sig_term.data = a.sig_int.data = &a;
  uv_signal_start(&a.sig_term, on_signal, SIGTERM);
  uv_signal_start(&a.sig_int, on_signal, SIGINT);
  /* the reconciler: records of what each task has (never a value) */
  if (!delivery_dir) {
    snprintf(ddir_buf, sizeof(ddir_buf), "%s/delivery", a.state);
    delivery_dir = ddir_buf;
  }
  if ((r = agent_delivery_open(&a.loop, delivery_dir, &a.delivery)) < 0)
    logf_("delivery off: cannot open %s: %s (tasks need root)", delivery_dir, sd_strerror(r));
  const struct wire_aclient_opts o = {
      .loop = &a.loop, .host = a.host, .port = a.port, .tls = a.ctx};
  static const struct wire_aclient_cbs cbs = {.on_up = on_up, .on_down = on_down, .on_push = on_push};
  if ((r = wire_aclient_new(&o, &cbs, &a, &a.ac)) < 0) {
    agent_err("cannot connect to %s: %s", a.manager, sd_strerror(r));
    agent_delivery_close(a.delivery);
    uv_close((uv_handle_t *)&a.renew_timer, NULL);
    uv_close((uv_handle_t *)&a.stop_timer, NULL);
    uv_close((uv_handle_t *)&a.sig_term, NULL);
    uv_close((uv_handle_t *)&a.sig_int, NULL);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    goto out;
  }
  agent_delivery_set_client(a.delivery, a.ac);
  logf_("running as node %s, manager %s", a.node_id, a.manager);
  renew_plan(&a, cert, asn1_time_s(X509_get0_notBefore(cert)) + CA_SKEW_SECONDS);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  uv_loop_close(&a.loop);
  status = a.removed ? AGENT_EXIT_REMOVED : 0;
out:
  wire_tls_ctx_free(a.ctx);
  wire_tls_ctx_free(a.old_ctx);
  secbuf_free(a.new_key);
  X509_free(cert);
  X509_free(a.root);
  secbuf_free(mgr);
  secbuf_free(id);
  secbuf_free(key);
  secbuf_free(cert_der);
  if (a.dfd >= 0)
    close(a.dfd);
  ERR_clear_error();
  return status;
}
