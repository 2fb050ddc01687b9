/*
 * TLS 1.3 over a libuv stream through OpenSSL memory BIOs. See wire/tls.h
 * for the contract and wire/transport.h for the life cycle.
 *
 * Data path: read_cb -> BIO_write(rbio) -> pump(): SSL_do_handshake or
 * SSL_read_ex until WANT_READ -> on_data. Every SSL call may produce
 * ciphertext (handshake flights, alerts, tickets, key-update replies, the
 * records of SSL_write); flush_out() moves it from wbio to one uv_write.
 *
 * One timer per connection serves three phases that never overlap: the
 * handshake deadline, a deferred pump after resume (so that on_data is never
 * called from inside an owner's call), and the linger bound while the last
 * bytes (an alert, close_notify) are flushed before the socket closes.
 *
 * Memory is freed only when both libuv handles have been closed: libuv
 * reports cancelled writes before the close callback, so nothing touches
 * freed memory.
 */
#include "wire/tls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/macro.h"

#define READ_CHUNK (17u * 1024u)  /* one full record (16 KiB + overhead) */
#define PLAIN_CHUNK (16u * 1024u) /* largest record plaintext */
#define BIO_KEEP_MAX (8u * 1024u) /* drop an idle BIO buffer above this */
#define SID_CTX "secretd-wire-tls"

struct wire_tls_ctx {
  unsigned refs;
  SSL_CTX *ssl_ctx;
  enum wire_tls_role role;
  unsigned handshake_timeout_ms;
  size_t high_water;
  wire_tls_resume_check_fn check;
  void *check_ud;
  bool cert_optional; /* server: a peer may come without a certificate */
  int (*check_server)(X509 *leaf, STACK_OF(X509) *chain, void *ud); /* client */
  void *check_server_ud;
};

enum tls_state {
  ST_HANDSHAKE, /* handshake running, deadline armed */
  ST_OPEN,      /* on_ready was called */
  ST_LINGER,    /* ended: flushing the last bytes, reading stopped */
  ST_CLOSING,   /* uv_close called on both handles */
};

enum timer_use { TIMER_NONE, TIMER_DEADLINE, TIMER_PUMP, TIMER_LINGER };

struct wire_tls {
  struct wire_transport transport; /* first */
  struct wire_tls_ctx *ctx;
  uv_stream_t *stream; /* owned, malloc'ed by the caller */
  uv_timer_t timer;
  SSL *ssl;
  const struct wire_transport_cbs *cbs;
  void *ud;
  SSL_SESSION *session; /* client: newest ticket received */
  enum tls_state state;
  enum timer_use timer_use;
  unsigned open_handles;
  size_t queued; /* ciphertext bytes in uv_write requests */
  int reason;    /* for on_close */
  const char *detail;
  bool ready, paused, reading, owner_closed, in_pump, pump_again, need_drain;
};

struct tls_write {
  uv_write_t req;
  size_t len;
  uint8_t data[];
};

static const struct wire_transport_ops tls_ops;
static void on_timer(uv_timer_t *timer);

/* ---- errors: OpenSSL's queue, translated once, here ---- */

static int map_ssl_reason(int reason) {
  switch (reason) {
  case SSL_R_CERTIFICATE_VERIFY_FAILED:
  case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
  case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
  case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
  case SSL_R_BAD_SIGNATURE:
    return -EKEYREJECTED;
  case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
  case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    return -ENOKEY;
  case SSL_R_UNSUPPORTED_PROTOCOL:
  case SSL_R_WRONG_VERSION_NUMBER:
  case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
  case SSL_R_NO_PROTOCOLS_AVAILABLE:
  case SSL_R_VERSION_TOO_LOW:
  case SSL_R_UNKNOWN_PROTOCOL:
    return -EPROTONOSUPPORT;
  case SSL_R_UNEXPECTED_EOF_WHILE_READING:
    return -ECONNRESET;
  case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    return -EACCES;
  default:
    return -EPROTO;
  }
}

static int map_err(unsigned long e, int fallback) {
  if (e == 0)
    return fallback;
  if (ERR_SYSTEM_ERROR(e))
    return ERR_GET_REASON(e) > 0 ? -ERR_GET_REASON(e) : fallback;
  if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
    return -ENOMEM;
  if (ERR_GET_LIB(e) == ERR_LIB_SSL)
    return map_ssl_reason(ERR_GET_REASON(e));
  return fallback;
}

/* Drain the queue; the first entry is the origin of the failure. */
static unsigned long take_error(void) {
  unsigned long e, first = 0;
  while ((e = ERR_get_error()) != 0)
    if (first == 0)
      first = e;
  return first;
}

/* Translate the failure of an SSL call on t (ssl_err from SSL_get_error). */
static int conn_error(struct wire_tls *t, int ssl_err) {
  unsigned long e = take_error();
  long v = SSL_get_verify_result(t->ssl);
  int r;
  if (ssl_err == SSL_ERROR_SYSCALL && e == 0)
    r = -EIO;
  else
    r = map_err(e, -EPROTO);
  if (v != X509_V_OK) {
    t->detail = X509_verify_cert_error_string(v);
    if (r == -EPROTO)
      r = -EKEYREJECTED;
  } else if (e != 0 && ERR_reason_error_string(e)) {
    t->detail = ERR_reason_error_string(e);
  }
  return r;
}

/* ---- context ---- */

static SSL_TICKET_RETURN decrypt_ticket_cb(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
                                           size_t keyname_len, SSL_TICKET_STATUS status,
                                           void *arg) {
  struct wire_tls_ctx *ctx = arg;
  switch (status) {
  case SSL_TICKET_EMPTY:
  case SSL_TICKET_NO_DECRYPT:
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  case SSL_TICKET_SUCCESS:
  case SSL_TICKET_SUCCESS_RENEW:
    break;
  default:
    return SSL_TICKET_RETURN_ABORT;
  }
  X509 *leaf = SSL_SESSION_get0_peer(ss);
  if (!leaf)
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  /* The certificate must still be valid now, not only when it was verified. */
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0 ||
      X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0)
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  if (ctx->check && ctx->check(leaf, (int64_t)SSL_SESSION_get_time(ss), ctx->check_ud) < 0)
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  return status == SSL_TICKET_SUCCESS_RENEW ? SSL_TICKET_RETURN_USE_RENEW
                                            : SSL_TICKET_RETURN_USE;
}

static int new_session_cb(SSL *s, SSL_SESSION *sess) {
  struct wire_tls *t = SSL_get_app_data(s);
  if (!t)
    return 0;
  SSL_SESSION_free(t->session);
  t->session = sess; /* we keep the reference */
  return 1;
}

static void ctx_unref(struct wire_tls_ctx *ctx) {
  if (!ctx || --ctx->refs > 0)
    return;
  SSL_CTX_free(ctx->ssl_ctx);
  free(ctx);
}

int wire_tls_secure_heap_init(void) {
  if (CRYPTO_secure_malloc_initialized())
    return 0;
  int r = CRYPTO_secure_malloc_init(WIRE_TLS_SECURE_HEAP_SIZE, WIRE_TLS_SECURE_HEAP_MINSIZE);
  ERR_clear_error();
  if (r == 0)
    return -ENOMEM;
  return r == 2 ? 1 : 0;
}

/* Client: OpenSSL's chain verification, then the owner's check_server. */
static int client_verify_cb(X509_STORE_CTX *xs, void *arg) {
  const struct wire_tls_ctx *ctx = arg;
  int ok = X509_verify_cert(xs);
  /* called either way (the owner may explain a refusal); refuses only */
  if (ctx->check_server &&
      ctx->check_server(X509_STORE_CTX_get0_cert(xs),
                        ok == 1 ? X509_STORE_CTX_get0_chain(xs) : NULL, ctx->check_server_ud) < 0 &&
      ok == 1) {
    X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    ok = 0;
  }
  return ok;
}

int wire_tls_ctx_new(const struct wire_tls_config *cfg, struct wire_tls_ctx **ret_ctx) {
  struct wire_tls_ctx *ctx = NULL;
  SSL_CTX *c = NULL;
  int r;

  bool in_mem = cfg && (cfg->ca_cert || cfg->cert || cfg->key);
  if (!cfg || !ret_ctx ||
      (in_mem ? !cfg->ca_cert || !cfg->cert || !cfg->key
              : !cfg->ca_file || !cfg->cert_file || !cfg->key_file) ||
      (cfg->client_cert_optional && cfg->role != WIRE_TLS_SERVER) ||
      (cfg->role != WIRE_TLS_SERVER && cfg->role != WIRE_TLS_CLIENT) ||
      (cfg->role == WIRE_TLS_CLIENT && cfg->check_resumption) ||
      (cfg->role == WIRE_TLS_SERVER && cfg->check_server))
    return -EINVAL;
  ERR_clear_error();
  ctx = calloc(1, sizeof(*ctx));
  c = SSL_CTX_new(cfg->role == WIRE_TLS_SERVER ? TLS_server_method() : TLS_client_method());
  if (!ctx || !c) {
    r = -ENOMEM;
    goto out;
  }
  if (!SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(c, 0)) {
    r = -EINVAL;
    goto out;
  }
  SSL_CTX_set_options(c, SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_NO_COMPRESSION |
                             SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);

  if (in_mem ? SSL_CTX_use_certificate(c, cfg->cert) != 1
             : SSL_CTX_use_certificate_chain_file(c, cfg->cert_file) != 1) {
    r = map_err(take_error(), -EBADMSG);
    goto out;
  }
  /* In memory, the root goes out with our certificate: a joining agent has
   * no root yet and checks the one it is shown against its join token. */
  if (in_mem && SSL_CTX_add1_chain_cert(c, cfg->ca_cert) != 1) {
    r = map_err(take_error(), -EBADMSG);
    goto out;
  }
  if (in_mem ? SSL_CTX_use_PrivateKey(c, cfg->key) != 1
             : SSL_CTX_use_PrivateKey_file(c, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
    unsigned long e = take_error();
    r = ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH
            ? -EINVAL
            : map_err(e, -EBADMSG);
    goto out;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    take_error();
    r = -EINVAL;
    goto out;
  }
  if (in_mem ? X509_STORE_add_cert(SSL_CTX_get_cert_store(c), cfg->ca_cert) != 1
             : SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL) != 1) {
    r = map_err(take_error(), -EBADMSG);
    goto out;
  }
  SSL_CTX_set_verify(c,
                     SSL_VERIFY_PEER | (cfg->role == WIRE_TLS_SERVER && !cfg->client_cert_optional
                                            ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                            : 0),
                     NULL);
  SSL_CTX_set_verify_depth(c, 4);

  if (cfg->role == WIRE_TLS_SERVER) {
    /* Resumption with client authentication needs a session id context. */
    if (SSL_CTX_set_session_id_context(c, (const unsigned char *)SID_CTX,
                                       sizeof(SID_CTX) - 1) != 1 ||
        SSL_CTX_set_session_ticket_cb(c, NULL, decrypt_ticket_cb, ctx) != 1) {
      r = map_err(take_error(), -ENOMEM);
      goto out;
    }
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF); /* stateless tickets only */
    SSL_CTX_set_timeout(c, cfg->ticket_lifetime_s ? (long)cfg->ticket_lifetime_s
                                                  : (long)WIRE_TLS_DEFAULT_TICKET_LIFETIME_S);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, new_session_cb);
    if (cfg->check_server)
      SSL_CTX_set_cert_verify_callback(c, client_verify_cb, ctx);
  }

  ctx->refs = 1;
  ctx->ssl_ctx = TAKE_PTR(c);
  ctx->role = cfg->role;
  ctx->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms
                                                        : WIRE_TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS;
  ctx->high_water = cfg->write_high_water ? cfg->write_high_water : WIRE_TLS_DEFAULT_HIGH_WATER;
  ctx->check = cfg->check_resumption;
  ctx->check_ud = cfg->check_ud;
  ctx->cert_optional = cfg->client_cert_optional;
  ctx->check_server = cfg->check_server;
  ctx->check_server_ud = cfg->check_server_ud;
  *ret_ctx = TAKE_PTR(ctx);
  r = 0;
out:
  ERR_clear_error();
  SSL_CTX_free(c);
  free(ctx);
  return r;
}

void wire_tls_ctx_free(struct wire_tls_ctx *ctx) { ctx_unref(ctx); }

/* ---- connection: teardown ---- */

static void on_handle_closed(uv_handle_t *h) {
  struct wire_tls *t = h->data;
  if (--t->open_handles > 0)
    return;
  if (!t->owner_closed)
    t->cbs->on_close(&t->transport, t->reason, t->ud);
  free(t->stream);
  /* SSL_free() of a connection that did not shut down marks its session
   * not resumable, and that is the very ticket object wire_tls_get_session()
   * handed out. Tickets arrive only after a completed handshake, and an
   * abrupt end later (a network drop: the reason to reconnect) does not
   * make them any less valid. */
  if (t->ready)
    SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(t->ssl);
  SSL_SESSION_free(t->session);
  ctx_unref(t->ctx);
  free(t);
}

static void start_close(struct wire_tls *t) {
  if (t->state == ST_CLOSING)
    return;
  t->state = ST_CLOSING;
  uv_timer_stop(&t->timer);
  uv_close((uv_handle_t *)t->stream, on_handle_closed);
  uv_close((uv_handle_t *)&t->timer, on_handle_closed);
}

static void stop_reading(struct wire_tls *t) {
  if (t->reading) {
    uv_read_stop(t->stream);
    t->reading = false;
  }
}

/* Ended: flush what is queued (an alert, close_notify), then close. */
static void end(struct wire_tls *t, int reason) {
  if (t->state >= ST_LINGER)
    return;
  t->reason = reason;
  t->state = ST_LINGER;
  stop_reading(t);
  uv_timer_stop(&t->timer);
  if (t->queued == 0) {
    start_close(t);
    return;
  }
  t->timer_use = TIMER_LINGER;
  uv_timer_start(&t->timer, on_timer, t->ctx->handshake_timeout_ms, 0);
}

/* ---- connection: output ---- */

static void on_write(uv_write_t *req, int status) {
  struct tls_write *w = (struct tls_write *)req;
  struct wire_tls *t = req->handle->data;
  t->queued -= w->len;
  free(w);
  if (t->state == ST_CLOSING)
    return;
  if (status < 0 && t->state == ST_LINGER) {
    start_close(t); /* nothing more can be flushed: do not wait out the linger */
    return;
  }
  if (status < 0) {
    end(t, status);
    return;
  }
  if (t->state == ST_LINGER) {
    if (t->queued == 0)
      start_close(t);
    return;
  }
  if (t->need_drain && t->queued <= t->ctx->high_water / 4 && !t->owner_closed) {
    t->need_drain = false;
    if (t->cbs->on_drain)
      t->cbs->on_drain(&t->transport, t->ud);
  }
}

/* A memory BIO keeps its largest size; swap an empty, grown one. */
static void shrink_bio(struct wire_tls *t, BIO *b, bool is_read) {
  BUF_MEM *bm = NULL;
  if (BIO_ctrl_pending(b) != 0 || BIO_get_mem_ptr(b, &bm) != 1 || !bm || bm->max <= BIO_KEEP_MAX)
    return;
  BIO *n = BIO_new(BIO_s_mem());
  if (!n)
    return;
  BIO_set_mem_eof_return(n, -1);
  if (is_read)
    SSL_set0_rbio(t->ssl, n);
  else
    SSL_set0_wbio(t->ssl, n);
}

/* Move the ciphertext produced so far to the socket. 0 or negative errno. */
static int flush_out(struct wire_tls *t) {
  BIO *wbio = SSL_get_wbio(t->ssl);
  size_t n = BIO_ctrl_pending(wbio);
  if (n == 0 || t->state == ST_CLOSING)
    return 0;
  struct tls_write *w = malloc(sizeof(*w) + n);
  if (!w)
    return -ENOMEM;
  if (BIO_read(wbio, w->data, (int)n) != (int)n) {
    free(w);
    return -EIO;
  }
  w->len = n;
  uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)n);
  int r = uv_write(&w->req, t->stream, &buf, 1, on_write);
  if (r < 0) {
    free(w);
    return r;
  }
  t->queued += n;
  shrink_bio(t, wbio, false);
  return 0;
}

/* ---- connection: input ---- */

static void handshake_done(struct wire_tls *t) {
  /* Belt and braces: OpenSSL already failed the handshake otherwise. */
  bool anonymous_ok = t->ctx->cert_optional && !SSL_get0_peer_certificate(t->ssl);
  if (!anonymous_ok &&
      (!SSL_get0_peer_certificate(t->ssl) || SSL_get_verify_result(t->ssl) != X509_V_OK)) {
    t->detail = "peer certificate missing or not verified";
    end(t, -EKEYREJECTED);
    return;
  }
  uv_timer_stop(&t->timer);
  t->timer_use = TIMER_NONE;
  t->state = ST_OPEN;
  t->ready = true;
  if (t->paused)
    stop_reading(t);
  t->cbs->on_ready(&t->transport, t->ud);
}

static void do_handshake(struct wire_tls *t) {
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
  int err = (e == SSL_ERROR_NONE || e == SSL_ERROR_WANT_READ) ? 0 : conn_error(t, e);
  int fr = flush_out(t); /* a flight, or the alert that explains a failure */
  if (err < 0) {
    end(t, err);
    return;
  }
  if (fr < 0) {
    end(t, fr);
    return;
  }
  if (r == 1)
    handshake_done(t);
}

static void do_read(struct wire_tls *t) {
  uint8_t buf[PLAIN_CHUNK];
  while (t->state == ST_OPEN && !t->paused && !t->owner_closed) {
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(t->ssl, buf, sizeof(buf), &n);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
    int err = 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
      /* The peer's close_notify: answer it and end in order. */
      ERR_clear_error();
      SSL_shutdown(t->ssl);
      ERR_clear_error();
    } else if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
      err = conn_error(t, e);
    }
    int fr = flush_out(t); /* tickets, key-update replies, alerts */
    /* A peer that makes us answer (key updates) but never reads. */
    if (fr == 0 && err == 0 && t->queued > WIRE_TLS_MAX_QUEUED)
      fr = -ENOBUFS;
    if (err < 0 || fr < 0) {
      end(t, err < 0 ? err : fr);
      break;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      end(t, 0);
      break;
    }
    if (e == SSL_ERROR_WANT_READ)
      break;
    t->cbs->on_data(&t->transport, buf, n, t->ud);
    OPENSSL_cleanse(buf, n);
  }
  if (t->state == ST_OPEN)
    shrink_bio(t, SSL_get_rbio(t->ssl), true);
}

static void pump(struct wire_tls *t) {
  if (t->in_pump) {
    t->pump_again = true;
    return;
  }
  t->in_pump = true;
  do {
    t->pump_again = false;
    if (t->state == ST_HANDSHAKE)
      do_handshake(t);
    if (t->state == ST_OPEN && !t->paused && !t->owner_closed)
      do_read(t);
  } while (t->pump_again && t->state == ST_OPEN && !t->paused && !t->owner_closed);
  t->in_pump = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  buf->base = malloc(READ_CHUNK);
  buf->len = buf->base ? READ_CHUNK : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct wire_tls *t = s->data;
  if (nread > 0 && t->state < ST_LINGER) {
    int w = BIO_write(SSL_get_rbio(t->ssl), buf->base, (int)nread);
    free(buf->base);
    if (w != (int)nread) {
      ERR_clear_error();
      end(t, -ENOMEM);
      return;
    }
    pump(t);
    return;
  }
  free(buf->base);
  if (nread == UV_ENOBUFS)
    end(t, -ENOMEM);
  else if (nread == UV_EOF)
    end(t, -ECONNRESET); /* no close_notify: a truncation, not an orderly end */
  else if (nread < 0)
    end(t, (int)nread);
}

static void on_timer(uv_timer_t *timer) {
  struct wire_tls *t = timer->data;
  enum timer_use use = t->timer_use;
  t->timer_use = TIMER_NONE;
  switch (use) {
  case TIMER_DEADLINE:
    if (t->state == ST_HANDSHAKE) {
      t->detail = "handshake timed out";
      end(t, -ETIMEDOUT);
    }
    break;
  case TIMER_PUMP:
    pump(t);
    break;
  case TIMER_LINGER:
    start_close(t);
    break;
  case TIMER_NONE:
    break;
  }
}

/* ---- transport ops ---- */

static struct wire_tls *of(const struct wire_transport *tr) {
  return (struct wire_tls *)tr; /* transport is the first member */
}

static int tls_write(struct wire_transport *tr, const void *buf, size_t len) {
  struct wire_tls *t = of(tr);
  size_t done = 0;
  if (t->owner_closed || t->state != ST_OPEN)
    return -ENOTCONN;
  if (len == 0)
    return t->queued > t->ctx->high_water ? 1 : 0;
  if (len > WIRE_TLS_MAX_QUEUED || t->queued + len > WIRE_TLS_MAX_QUEUED)
    return -ENOBUFS;
  ERR_clear_error();
  if (SSL_write_ex(t->ssl, buf, len, &done) != 1) {
    int err = conn_error(t, SSL_get_error(t->ssl, 0));
    end(t, err);
    return err;
  }
  int r = flush_out(t);
  if (r < 0) {
    end(t, r);
    return r;
  }
  if (t->queued > t->ctx->high_water) {
    t->need_drain = true;
    return 1;
  }
  return 0;
}

static void tls_pause(struct wire_transport *tr) {
  struct wire_tls *t = of(tr);
  t->paused = true;
  if (t->state == ST_OPEN)
    stop_reading(t);
}

static void tls_resume(struct wire_transport *tr) {
  struct wire_tls *t = of(tr);
  if (!t->paused)
    return;
  t->paused = false;
  if (t->state != ST_OPEN || t->owner_closed)
    return;
  if (!t->reading && uv_read_start(t->stream, on_alloc, on_read) == 0)
    t->reading = true;
  if (t->in_pump) {
    t->pump_again = true;
  } else if (t->timer_use == TIMER_NONE) {
    /* Records may already be buffered: deliver them from the loop. */
    t->timer_use = TIMER_PUMP;
    uv_timer_start(&t->timer, on_timer, 0, 0);
  }
}

static size_t tls_queued(const struct wire_transport *tr) { return of(tr)->queued; }

static int tls_peer(const struct wire_transport *tr, struct wire_peer *ret) {
  const struct wire_tls *t = of(tr);
  if (!t->ready || !ret)
    return -ENOTCONN;
  bool resumed = SSL_session_reused(t->ssl) == 1;
  *ret = (struct wire_peer){
      .kind = WIRE_PEER_TLS,
      .leaf = SSL_get0_peer_certificate(t->ssl),
      .chain = resumed ? NULL : SSL_get0_verified_chain(t->ssl),
      .resumed = resumed,
  };
  return 0;
}

static void tls_close(struct wire_transport *tr) {
  struct wire_tls *t = of(tr);
  if (t->owner_closed)
    return;
  t->owner_closed = true;
  if (t->state == ST_OPEN) {
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* close_notify */
    ERR_clear_error();
    (void)flush_out(t);
  }
  end(t, 0);
}

static const struct wire_transport_ops tls_ops = {
    .write = tls_write,
    .pause = tls_pause,
    .resume = tls_resume,
    .queued = tls_queued,
    .peer = tls_peer,
    .close = tls_close,
};

/* ---- public ---- */

int wire_tls_new(struct wire_tls_ctx *ctx, uv_stream_t *stream, const char *server_name,
                 SSL_SESSION *session, const struct wire_transport_cbs *cbs, void *ud,
                 struct wire_tls **ret) {
  struct wire_tls *t = NULL;
  SSL *ssl = NULL;
  BIO *rbio = NULL, *wbio = NULL;
  int r;

  if (!ctx || !stream || !cbs || !cbs->on_ready || !cbs->on_data || !cbs->on_close || !ret ||
      (ctx->role == WIRE_TLS_SERVER && (server_name || session)))
    return -EINVAL;
  ERR_clear_error();
  t = calloc(1, sizeof(*t));
  ssl = SSL_new(ctx->ssl_ctx);
  rbio = BIO_new(BIO_s_mem());
  wbio = BIO_new(BIO_s_mem());
  if (!t || !ssl || !rbio || !wbio) {
    r = -ENOMEM;
    goto out;
  }
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl, TAKE_PTR(rbio), TAKE_PTR(wbio));
  if (ctx->role == WIRE_TLS_SERVER) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    if (server_name && (SSL_set_tlsext_host_name(ssl, server_name) != 1 ||
                        SSL_set1_host(ssl, server_name) != 1)) {
      r = map_err(take_error(), -EINVAL);
      goto out;
    }
    if (session && SSL_set_session(ssl, session) != 1) {
      r = map_err(take_error(), -EINVAL);
      goto out;
    }
  }
  r = uv_timer_init(stream->loop, &t->timer);
  if (r < 0)
    goto out;
  t->timer.data = t;
  t->transport.ops = &tls_ops;
  t->stream = stream;
  t->cbs = cbs;
  t->ud = ud;
  t->state = ST_HANDSHAKE;
  t->open_handles = 2;
  r = uv_read_start(stream, on_alloc, on_read);
  if (r < 0) {
    /* The timer is initialised: it must be closed, with the stream left
     * to the caller. Close it and let its callback free t. */
    t->open_handles = 1;
    t->owner_closed = true;
    t->ssl = TAKE_PTR(ssl);
    t->stream = NULL;
    ctx->refs++;
    t->ctx = ctx;
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
    t = NULL;
    goto out;
  }
  t->reading = true;
  stream->data = t;
  SSL_set_app_data(ssl, t);
  t->ssl = TAKE_PTR(ssl);
  ctx->refs++;
  t->ctx = ctx;
  t->timer_use = TIMER_DEADLINE;
  uv_timer_start(&t->timer, on_timer, ctx->handshake_timeout_ms, 0);
  if (ctx->role == WIRE_TLS_CLIENT) {
    /* Send the ClientHello now. A failure only ends t, from the loop. */
    ERR_clear_error();
    int h = SSL_do_handshake(t->ssl);
    int e = h == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, h);
    int err = e == SSL_ERROR_WANT_READ ? 0 : conn_error(t, e);
    int fr = flush_out(t);
    if (err < 0 || fr < 0)
      end(t, err < 0 ? err : fr);
  }
  *ret = TAKE_PTR(t);
  r = 0;
out:
  ERR_clear_error();
  BIO_free(rbio);
  BIO_free(wbio);
  SSL_free(ssl);
  free(t);
  return r;
}

struct wire_transport *wire_tls_transport(struct wire_tls *t) { return t ? &t->transport : NULL; }

struct wire_tls *wire_tls_from_transport(struct wire_transport *tr) {
  return tr && tr->ops == &tls_ops ? of(tr) : NULL;
}

int wire_tls_get_session(struct wire_tls *t, SSL_SESSION **ret_session) {
  if (!t || !ret_session)
    return -EINVAL;
  if (!t->session || SSL_SESSION_is_resumable(t->session) != 1)
    return -ENOENT;
  SSL_SESSION_up_ref(t->session);
  *ret_session = t->session;
  return 0;
}

const char *wire_tls_error_detail(const struct wire_tls *t) {
  return t && t->detail ? t->detail : "";
}
