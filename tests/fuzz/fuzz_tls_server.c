/*
 * libFuzzer harness: the server end of a wire/tls session, fed hostile
 * input after a valid mutual TLS 1.3 handshake.
 *
 * Each input runs one connection over a socketpair: the server is wire_tls
 * on a uv_pipe_t; the peer is an OpenSSL client driven by the harness
 * through memory BIOs. After the handshake (resumed from a ticket after the
 * first input, to keep executions fast), the input is a list of chunks:
 *   byte c, then:  c%4 == 0: n = next byte, n bytes sent as a valid record
 *                  c%4 == 1: a key update (requested from the server)
 *                  c%4 == 2: n = next byte, n raw bytes written on the socket
 *                  c%4 == 3: the client's close_notify
 * Properties checked: the server delivers exactly the plaintext the client
 * sent before the first raw bytes or close_notify (nothing unauthenticated,
 * nothing lost, nothing reordered), it ends by itself once the socket hits
 * EOF, and every handle and byte is released (ASan/LSan).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "tls_pki.h"
#include "wire/tls.h"

static char g_dir[64];
static uv_loop_t g_loop;
static struct wire_tls_ctx *g_sctx;
static SSL_CTX *g_cctx;
static SSL_SESSION *g_session;
static unsigned long g_resumed; /* inspect in a debugger: resumption keeps runs fast */

static struct {
  bool ready, closed;
  int reason;
  uint8_t got[70000];
  size_t got_len;
} S;

static void cleanup_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "fuzz_tls_server: could not remove %s\n", g_dir);
}

static void init_once(void) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_dir, sizeof(g_dir), "/tmp/fuzz_tls.XXXXXX");
  if (!mkdtemp(g_dir))
    abort();
  atexit(cleanup_dir);
  if (tls_pki_ca(g_dir, "ca") < 0 ||
      tls_pki_leaf(g_dir, "ca", "server", TLS_PKI_SERVER, 86400) < 0 ||
      tls_pki_leaf(g_dir, "ca", "client", TLS_PKI_CLIENT, 86400) < 0)
    abort();
  struct wire_tls_config cfg = {
      .role = WIRE_TLS_SERVER,
      .ca_file = tls_pki_path(g_dir, "ca", "pem"),
      .cert_file = tls_pki_path(g_dir, "server", "pem"),
      .key_file = tls_pki_path(g_dir, "server", "key"),
  };
  if (uv_loop_init(&g_loop) < 0 || wire_tls_ctx_new(&cfg, &g_sctx) < 0)
    abort();
  g_cctx = SSL_CTX_new(TLS_client_method());
  if (!g_cctx ||
      SSL_CTX_load_verify_locations(g_cctx, tls_pki_path(g_dir, "ca", "pem"), NULL) != 1 ||
      SSL_CTX_use_certificate_file(g_cctx, tls_pki_path(g_dir, "client", "pem"),
                                   SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(g_cctx, tls_pki_path(g_dir, "client", "key"),
                                  SSL_FILETYPE_PEM) != 1)
    abort();
  SSL_CTX_set_verify(g_cctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_min_proto_version(g_cctx, TLS1_3_VERSION);
  /* No internal store: SSL_free() of an unfinished connection would mark
   * a cached session not resumable. */
  SSL_CTX_set_session_cache_mode(g_cctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
}

static void s_ready(struct wire_transport *t, void *ud) { S.ready = true; }
static void s_data(struct wire_transport *t, const uint8_t *buf, size_t len, void *ud) {
  if (S.got_len + len > sizeof(S.got))
    abort();
  memcpy(S.got + S.got_len, buf, len);
  S.got_len += len;
}
static void s_close(struct wire_transport *t, int reason, void *ud) {
  S.closed = true;
  S.reason = reason;
}
static const struct wire_transport_cbs s_cbs = {
    .on_ready = s_ready, .on_data = s_data, .on_close = s_close};

/* Client -> socket: everything in the client's write BIO. */
static void push(SSL *c, int fd) {
  uint8_t buf[4096];
  int n;
  while ((n = BIO_read(SSL_get_wbio(c), buf, sizeof(buf))) > 0) {
    for (int off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0) {
        if (errno == EAGAIN) {
          uv_run(&g_loop, UV_RUN_NOWAIT);
          continue;
        }
        return; /* the server is gone */
      }
      off += (int)w;
    }
  }
}

/* Socket -> client: whatever the server sent. */
static void pull(SSL *c, int fd) {
  uint8_t buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    BIO_write(SSL_get_rbio(c), buf, (int)n);
}

static void spin(SSL *c, int fd) {
  for (int i = 0; i < 4; i++)
    uv_run(&g_loop, UV_RUN_NOWAIT);
  pull(c, fd);
  if (SSL_is_init_finished(c)) {
    /* Take in tickets and key updates; the server sends no data. */
    uint8_t b[256];
    if (SSL_read(c, b, sizeof(b)) > 0)
      abort();
    ERR_clear_error();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool inited;
  if (!inited) {
    init_once();
    inited = true;
  }
  memset(&S, 0, sizeof(S) - sizeof(S.got));
  S.got_len = 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
    abort();
  uv_pipe_t *p = malloc(sizeof(*p));
  struct wire_tls *t = NULL;
  if (!p || uv_pipe_init(&g_loop, p, 0) < 0 || uv_pipe_open(p, sv[0]) < 0 ||
      wire_tls_new(g_sctx, (uv_stream_t *)p, NULL, NULL, &s_cbs, NULL, &t) < 0)
    abort();

  SSL *c = SSL_new(g_cctx);
  SSL_set_bio(c, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  BIO_set_mem_eof_return(SSL_get_rbio(c), -1);
  SSL_set_connect_state(c);
  if (g_session && SSL_set_session(c, g_session) != 1)
    abort();


  /* The valid handshake. */
  for (int i = 0; i < 200 && !(S.ready && SSL_is_init_finished(c)); i++) {
    if (!SSL_is_init_finished(c)) {
      ERR_clear_error();
      int r = SSL_do_handshake(c);
      if (r != 1 && SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
        abort();
    }
    push(c, sv[1]);
    spin(c, sv[1]);
  }
  if (!S.ready || S.closed)
    abort();
  if (SSL_session_reused(c))
    g_resumed++;

  uint8_t expect[70000];
  size_t expect_len = 0;
  bool tainted = false; /* raw bytes or close_notify sent: later records may be lost */
  bool shut = false;
  int key_updates = 0;
  for (size_t i = 0; i < size && !S.closed;) {
    uint8_t ctl = data[i++];
    size_t n = 0;
    if (ctl % 4 == 0 || ctl % 4 == 2) {
      n = i < size ? data[i++] : 0;
      if (n > size - i)
        n = size - i;
    }
    switch (ctl % 4) {
    case 0:
      if (n > 0 && !shut) {
        if (SSL_write(c, data + i, (int)n) != (int)n)
          abort();
        if (!tainted) {
          memcpy(expect + expect_len, data + i, n);
          expect_len += n;
        }
      }
      break;
    case 1:
      /* OpenSSL refuses more than 32 key updates in a row: stay under. */
      if (!shut && key_updates++ < 16 && SSL_key_update(c, SSL_KEY_UPDATE_REQUESTED) == 1)
        SSL_do_handshake(c);
      break;
    case 2:
      if (n > 0) {
        push(c, sv[1]);
        if (write(sv[1], data + i, n) < 0 && errno != EPIPE && errno != EAGAIN &&
            errno != ECONNRESET)
          abort();
        tainted = true;
      }
      break;
    case 3:
      if (!shut)
        SSL_shutdown(c);
      shut = tainted = true;
      break;
    }
    i += n;
    ERR_clear_error();
    push(c, sv[1]);
    spin(c, sv[1]);
  }
  spin(c, sv[1]);
  spin(c, sv[1]);

  /* Nothing unauthenticated, nothing lost, nothing reordered. */
  if (S.got_len != expect_len || memcmp(S.got, expect, expect_len) != 0)
    abort();
  if (!tainted && S.closed)
    abort(); /* valid traffic alone must not end the connection */

  /* Keep a fresh ticket for the next input (single use). */
  SSL_SESSION *s = SSL_get1_session(c);

  if (s && SSL_SESSION_is_resumable(s) && !tainted) {
    SSL_SESSION_free(g_session);
    g_session = s;
  } else {
    SSL_SESSION_free(s);
  }
  /* Unless it saw a shutdown, SSL_free() marks the session not resumable. */
  SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(c);

  /* EOF: the server ends by itself and frees everything. */
  close(sv[1]);
  for (int i = 0; i < 1000 && !S.closed; i++)
    uv_run(&g_loop, UV_RUN_ONCE);
  if (!S.closed || (!tainted && S.reason != -ECONNRESET))
    abort();
  while (uv_run(&g_loop, UV_RUN_NOWAIT))
    ;
  ERR_clear_error();
  return 0;
}
