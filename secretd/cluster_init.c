/*
 * The cluster identity of a store: created by `secretd init`, by
 * `secretd init-cluster` for a store made before identities existed, or at
 * the first `secretd serve` of such a store (with the default key type).
 * And the renewal of the manager's own certificate while secretd serves.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/error.h"
#include "base/macro.h"
#include "secretd/commit_queue.h"
#include "secretd/identity.h"
#include "secretd/listen.h"
#include "secretd/log.h"
#include "secretd/secretd.h"
#include "secretd/serve.h"
#include "store/store.h"

int parse_ca_key_type(const char *s, int *ret) {
  if (!strcmp(s, "p256") || !strcmp(s, "P-256") || !strcmp(s, "ecdsa-p256"))
    *ret = CA_KEY_P256;
  else if (!strcmp(s, "ed25519") || !strcmp(s, "Ed25519"))
    *ret = CA_KEY_ED25519;
  else
    return -EINVAL;
  return 0;
}

static void log_created(struct store *s) {
  struct identity *id = NULL;
  if (identity_open(s, &id) == 0) {
    const struct store_cluster *c = identity_cluster(id);
    log_info("cluster %s created: root CA (%s) and manager %s; private keys sealed in the store",
             c->cluster_id, c->key_type == CA_KEY_ED25519 ? "Ed25519" : "ECDSA P-256",
             c->manager_id);
  }
  identity_free(id);
}

int cluster_create_in(struct store *s, int key_type) {
  struct store_actor a = {.uid = (uint32_t)getuid()};
  int r = identity_cluster_create(s, &a, (enum ca_key_type)key_type);
  if (r < 0)
    return r;
  log_created(s);
  return 0;
}

int identity_open_or_migrate(struct store *s, struct identity **ret) {
  int r = identity_open(s, ret);
  if (r != STORE_ID_E_NOCLUSTER) {
    if (r < 0)
      log_err("cannot load the cluster identity: %s", identity_strerror(r));
    return r;
  }
  log_info("this store predates cluster identities: creating one (ECDSA P-256; use "
           "`secretd init-cluster --ca-key-type ed25519` before the first serve for Ed25519)");
  if ((r = cluster_create_in(s, CA_KEY_P256)) < 0 || (r = identity_open(s, ret)) < 0)
    log_err("cannot create the cluster identity: %s", identity_strerror(r));
  return r;
}

int verb_init_cluster(int argc, char **argv) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, 'd'},
      {"unlock-key-file", required_argument, NULL, 'k'},
      {"ca-key-type", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  static const char usage[] =
      "usage: secretd init-cluster --data DIR [--unlock-key-file PATH] [--ca-key-type p256|ed25519]";
  const char *dir = NULL, *key_file = NULL;
  int c, r, type = CA_KEY_P256;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'k': key_file = optarg; break;
    case 't':
      if (parse_ca_key_type(optarg, &type) < 0) {
        log_err("--ca-key-type: want p256 or ed25519");
        return 2;
      }
      break;
    case 'h': puts(usage + 7); return 0;
    default: return 2;
    }
  }
  if (!dir || optind != argc) {
    log_err("%s", usage);
    return 2;
  }
  _cleanup_close_ int lock_fd = -1;
  pid_t holder = 0;
  if ((r = serve_lock_acquire(dir, &lock_fd, &holder)) < 0) {
    if (r == SD_E_LOCKED)
      log_err("store is in use by secretd (pid %d): stop it first", (int)holder);
    else
      log_err("%s: %s", dir, sd_strerror(r));
    return 1;
  }
  _cleanup_(store_closep) struct store *s = NULL;
  if ((r = unlock_open_store(dir, key_file, NULL, &s)) < 0) {
    log_err("cannot open the store in %s: %s", dir, sd_strerror(r));
    return 1;
  }
  struct identity *id = NULL;
  if (identity_open(s, &id) == 0) {
    log_err("the store in %s already has cluster %s", dir, identity_cluster(id)->cluster_id);
    identity_free(id);
    return 1;
  }
  if ((r = cluster_create_in(s, type)) < 0) {
    log_err("cannot create the cluster identity: %s", identity_strerror(r));
    return 1;
  }
  return 0;
}

/* ---- renewal of the manager certificate (secretd serve) ---- */

struct manager_cert_watch {
  struct cq_item item; /* first: the commit queue hands it back */
  struct server *s;
  uv_timer_t timer;
  int64_t not_after; /* of the renewal in flight */
  bool busy, stopping, timer_closed;
};

static void watch_maybe_free(struct manager_cert_watch *w) {
  if (w->stopping && w->timer_closed && !w->busy)
    free(w);
}

static void watch_timer_closed(uv_handle_t *h) {
  struct manager_cert_watch *w = h->data;
  w->timer_closed = true;
  watch_maybe_free(w);
}

static void fmt_time(int64_t t, char *buf, size_t len) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(buf, len, "%lld", (long long)t);
}

static int watch_run(struct store_batch *b, struct cq_item *it) {
  struct manager_cert_watch *w = (struct manager_cert_watch *)it;
  struct store_actor a = {.uid = UINT32_MAX, .node = "secretd"};
  int r = identity_manager_renew(w->s->identity, b, &a, &w->not_after);
  OPENSSL_thread_stop(); /* as admin_run_node_join: pool threads never exit */
  return r;
}

static void watch_done(struct cq_item *it, int r) {
  struct manager_cert_watch *w = (struct manager_cert_watch *)it;
  struct server *s = w->s;
  char when[32];
  w->busy = false;
  if (r == -ECANCELED || w->stopping) {
    watch_maybe_free(w);
    return;
  }
  if (r < 0) {
    log_err("cannot renew the manager certificate: %s (trying again at the next check)",
            identity_strerror(r));
    return;
  }
  if ((r = identity_reload_manager(s->identity)) < 0) {
    log_err("the manager certificate was renewed but does not load: %s", identity_strerror(r));
    return;
  }
  fmt_time(w->not_after, when, sizeof(when));
  /* new connections get the new certificate; live ones go on */
  r = s->tls_listener ? listen_reload_cert(s->tls_listener) : 0;
  if (r < 0)
    log_err("the manager certificate was renewed (valid until %s) but the listener keeps the "
            "previous one until a restart: %s",
            when, sd_strerror(r));
  else
    log_info("manager certificate renewed (valid until %s)%s", when,
             s->tls_listener ? "; new connections get it" : "");
}

static void watch_tick(uv_timer_t *t) {
  struct manager_cert_watch *w = t->data;
  int64_t not_after = 0;
  if (w->busy || w->stopping || w->s->stopping)
    return;
  int r = identity_manager_renew_due(w->s->identity, (int64_t)time(NULL), &not_after);
  if (r < 0) {
    log_err("cannot read the manager certificate: %s", identity_strerror(r));
    return;
  }
  if (r == 0)
    return;
  char when[32];
  fmt_time(not_after, when, sizeof(when));
  log_info("the manager certificate expires at %s: renewing it", when);
  w->busy = true;
  w->item = (struct cq_item){.run = watch_run, .done = watch_done};
  cq_submit(w->s->cq, &w->item);
}

int manager_cert_watch_start(struct server *s, uint32_t period_ms,
                             struct manager_cert_watch **ret) {
  if (!s || !s->identity || !s->cq || !ret)
    return -EINVAL;
  struct manager_cert_watch *w = calloc(1, sizeof(*w));
  if (!w)
    return -ENOMEM;
  w->s = s;
  uv_timer_init(s->loop, &w->timer);
  w->timer.data = w;
  /* now, then periodically */
  uv_timer_start(&w->timer, watch_tick, 0, period_ms ? period_ms : MANAGER_CERT_CHECK_DEFAULT_MS);
  uv_unref((uv_handle_t *)&w->timer);
  *ret = w;
  return 0;
}

void manager_cert_watch_stop(struct manager_cert_watch *w) {
  if (!w || w->stopping)
    return;
  w->stopping = true;
  uv_close((uv_handle_t *)&w->timer, watch_timer_closed);
}
