/* Cluster identity inside secretd: see secretd/identity.h. */
#include "secretd/identity.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "crypto/join_token.h"
#include "wire/proto.h"

struct limiter_slot {
  uint64_t key;       /* keyed hash of the address (0: free) */
  uint32_t failures;  /* consecutive failures */
  uint64_t until_ms;  /* slowed down until */
  uint64_t last_ms;
};

struct identity {
  struct store *store;
  pthread_mutex_t mu; /* guards ca, cluster, limiter */
  struct ca *ca;
  struct store_cluster *cluster;
  struct secbuf *manager_key;
  uint8_t limiter_key[16];
  struct limiter_slot slots[IDENTITY_LIMITER_SLOTS];
  uint64_t limiter_swept_ms; /* last purge of expired entries */
};

const char *identity_strerror(int r) {
  if (r <= -(JT_ERR_BASE + 1) && r > -(JT_ERR_BASE + 20))
    return join_token_strerror(r);
  if (r <= -(CA_ERR_BASE + 1) && r > -(CA_ERR_BASE + 20))
    return ca_strerror(r);
  if (r == -EMSGSIZE)
    return "certificate request too large";
  if (r == -EAGAIN)
    return "too many failed joins from this address: slowed down, retry later";
  return store_identity_strerror(r);
}

/* ---- cluster creation ---- */

int identity_cluster_create(struct store *s, const struct store_actor *a, enum ca_key_type type) {
  struct ca *ca = NULL;
  struct secbuf *ca_key = NULL, *mgr_key = NULL;
  uint8_t *csr = NULL;
  size_t csr_len;
  struct store_cluster c = {0};
  struct store_batch *b = NULL;
  int r;
  if (!s)
    return -EINVAL;
  if ((r = ca_create(type, &ca)) < 0 || (r = ca_key_der(ca, &ca_key)) < 0 ||
      (r = ca_cert_der(ca, &c.ca_cert, &c.ca_cert_len)) < 0 ||
      (r = ca_new_id(c.manager_id)) < 0 || (r = ca_node_key_new(type, &mgr_key)) < 0 ||
      (r = ca_csr_new(mgr_key, &csr, &csr_len)) < 0 ||
      (r = ca_issue(ca, csr, csr_len, c.manager_id, CA_ROLE_MANAGER, IDENTITY_MANAGER_LIFETIME_S,
                    &c.manager_cert, &c.manager_cert_len, NULL, NULL)) < 0)
    goto out;
  snprintf(c.cluster_id, sizeof(c.cluster_id), "%s", ca_cluster_id(ca));
  c.key_type = (uint32_t)type;
  c.cert_lifetime_s = CA_LIFETIME_DEFAULT;
  c.created_ns = (uint64_t)time(NULL) * 1000000000ull;
  if ((r = store_batch_begin(s, &b)) < 0)
    goto out;
  if ((r = store_cluster_create(b, a, &c, ca_key, mgr_key)) < 0) {
    /* the failure record is in the batch: keep it */
    int w = store_batch_commit(b);
    b = NULL;
    (void)w;
    goto out;
  }
  r = store_batch_commit(b);
  b = NULL;
out:
  store_batch_abort(b);
  ca_free(ca);
  secbuf_free(ca_key);
  secbuf_free(mgr_key);
  free(csr);
  free(c.ca_cert);
  free(c.manager_cert);
  return r;
}

/* ---- open ---- */

static int load(struct identity *id) {
  struct store_cluster *c = NULL;
  struct secbuf *ca_key = NULL, *mgr_key = NULL;
  struct ca *ca = NULL;
  int r = store_cluster_load(id->store, &c, &ca_key, &mgr_key);
  if (r < 0)
    return r;
  r = ca_load(c->ca_cert, c->ca_cert_len, ca_key, &ca);
  secbuf_free(ca_key);
  if (r < 0) {
    store_cluster_free(c);
    secbuf_free(mgr_key);
    return r;
  }
  ca_free(id->ca);
  store_cluster_free(id->cluster);
  secbuf_free(id->manager_key);
  id->ca = ca;
  id->cluster = c;
  id->manager_key = mgr_key;
  return 0;
}

int identity_open(struct store *s, struct identity **ret) {
  if (!s || !ret)
    return -EINVAL;
  struct identity *id = calloc(1, sizeof(*id));
  if (!id)
    return -ENOMEM;
  id->store = s;
  pthread_mutex_init(&id->mu, NULL);
  randombytes_buf(id->limiter_key, sizeof(id->limiter_key));
  int r = load(id);
  if (r < 0) {
    identity_free(id);
    return r;
  }
  *ret = id;
  return 0;
}

void identity_free(struct identity *id) {
  if (!id)
    return;
  ca_free(id->ca);
  store_cluster_free(id->cluster);
  secbuf_free(id->manager_key);
  pthread_mutex_destroy(&id->mu);
  free(id);
}

const struct store_cluster *identity_cluster(const struct identity *id) { return id->cluster; }
const struct secbuf *identity_manager_key(const struct identity *id) { return id->manager_key; }

int identity_reload(struct identity *id) {
  struct store_cluster *c = NULL;
  int r = store_cluster_load(id->store, &c, NULL, NULL);
  if (r < 0)
    return r;
  pthread_mutex_lock(&id->mu);
  store_cluster_free(id->cluster);
  id->cluster = c;
  pthread_mutex_unlock(&id->mu);
  return 0;
}

/* ---- the manager's own certificate ---- */

static int64_t asn1_time_s(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return INT64_MIN;
  return (int64_t)timegm(&tm);
}

int identity_manager_renew_due(struct identity *id, int64_t now_s, int64_t *ret_not_after) {
  if (!id)
    return -EINVAL;
  pthread_mutex_lock(&id->mu);
  const uint8_t *p = id->cluster->manager_cert;
  X509 *x = d2i_X509(NULL, &p, (long)id->cluster->manager_cert_len);
  pthread_mutex_unlock(&id->mu);
  if (!x)
    return -EBADMSG;
  int64_t nb = asn1_time_s(X509_get0_notBefore(x)), na = asn1_time_s(X509_get0_notAfter(x));
  X509_free(x);
  if (nb == INT64_MIN || na == INT64_MIN)
    return -EBADMSG;
  int64_t start = nb + CA_SKEW_SECONDS, life = na - start;
  if (ret_not_after)
    *ret_not_after = na;
  /* renew once less than a third is left: now >= notAfter - life / 3 */
  return life <= 0 || now_s >= na - life / 3 ? 1 : 0;
}

int identity_manager_renew(struct identity *id, struct store_batch *b,
                           const struct store_actor *a, int64_t *ret_not_after) {
  struct secbuf *key = NULL;
  uint8_t *csr = NULL, *cert = NULL;
  size_t csr_len = 0, cert_len = 0;
  time_t not_after = 0;
  char manager_id[CA_ID_LEN + 1];
  int r;
  if (!id || !b)
    return -EINVAL;
  pthread_mutex_lock(&id->mu);
  enum ca_key_type kt = (enum ca_key_type)id->cluster->key_type;
  snprintf(manager_id, sizeof(manager_id), "%s", id->cluster->manager_id);
  pthread_mutex_unlock(&id->mu);
  if ((r = ca_node_key_new(kt, &key)) < 0 || (r = ca_csr_new(key, &csr, &csr_len)) < 0)
    goto out;
  pthread_mutex_lock(&id->mu);
  r = ca_issue(id->ca, csr, csr_len, manager_id, CA_ROLE_MANAGER, IDENTITY_MANAGER_LIFETIME_S,
               &cert, &cert_len, NULL, &not_after);
  pthread_mutex_unlock(&id->mu);
  if (r < 0)
    goto out;
  if ((r = store_cluster_set_manager(b, a, cert, cert_len, (int64_t)not_after, key)) < 0)
    goto out;
  if (ret_not_after)
    *ret_not_after = (int64_t)not_after;
  r = 0;
out:
  secbuf_free(key);
  free(csr);
  free(cert);
  return r;
}

int identity_reload_manager(struct identity *id) {
  struct store_cluster *c = NULL;
  struct secbuf *mgr_key = NULL;
  if (!id)
    return -EINVAL;
  int r = store_cluster_load(id->store, &c, NULL, &mgr_key);
  if (r < 0)
    return r;
  /* Only the manager's certificate and key change: the record's other
   * fields (the root, the ids) stay where pool threads may be reading them. */
  pthread_mutex_lock(&id->mu);
  uint8_t *old_cert = id->cluster->manager_cert;
  struct secbuf *old_key = id->manager_key;
  id->cluster->manager_cert = c->manager_cert;
  id->cluster->manager_cert_len = c->manager_cert_len;
  id->manager_key = mgr_key;
  c->manager_cert = NULL;
  pthread_mutex_unlock(&id->mu);
  free(old_cert);
  secbuf_free(old_key);
  store_cluster_free(c);
  return 0;
}

/* ---- limiter ---- */

/* An entry whose wait is over and whose last failure is older than
 * IDENTITY_LIMITER_FORGET_MS holds nothing worth keeping: its address starts
 * afresh. */
static bool slot_expired(const struct limiter_slot *sl, uint64_t now_ms) {
  return sl->key && sl->until_ms <= now_ms && now_ms - sl->last_ms >= IDENTITY_LIMITER_FORGET_MS;
}

/* Free every expired entry, at most once per IDENTITY_LIMITER_SWEEP_MS (id->mu held). */
static void limiter_purge(struct identity *id, uint64_t now_ms) {
  if (id->limiter_swept_ms && now_ms - id->limiter_swept_ms < IDENTITY_LIMITER_SWEEP_MS &&
      now_ms >= id->limiter_swept_ms)
    return;
  id->limiter_swept_ms = now_ms ? now_ms : 1;
  for (size_t i = 0; i < IDENTITY_LIMITER_SLOTS; i++)
    if (slot_expired(&id->slots[i], now_ms))
      id->slots[i] = (struct limiter_slot){0};
}

static struct limiter_slot *slot_for(struct identity *id, const char *addr, uint64_t now_ms,
                                     bool create) {
  uint64_t key;
  limiter_purge(id, now_ms);
  crypto_shorthash((uint8_t *)&key, (const uint8_t *)addr, strlen(addr), id->limiter_key);
  key |= 1; /* never 0 */
  struct limiter_slot *victim = NULL;
  /* every slot is looked at: purged slots leave holes in probe runs */
  for (size_t i = 0; i < IDENTITY_LIMITER_SLOTS; i++) {
    struct limiter_slot *sl = &id->slots[(key + i) % IDENTITY_LIMITER_SLOTS];
    if (sl->key == key) {
      if (!slot_expired(sl, now_ms))
        return sl;
      *sl = (struct limiter_slot){0}; /* expired since the last sweep */
    }
    /* the first free (or expired) slot in probe order; with none, the
     * table is full: the stalest entry goes */
    bool spare = !sl->key || slot_expired(sl, now_ms);
    bool victim_spare = victim && (!victim->key || slot_expired(victim, now_ms));
    if (!victim || (spare && !victim_spare) ||
        (!spare && !victim_spare && sl->last_ms < victim->last_ms))
      victim = sl;
  }
  if (!create)
    return NULL;
  *victim = (struct limiter_slot){.key = key, .last_ms = now_ms};
  return victim;
}

size_t identity_limiter_entries(struct identity *id) {
  size_t n = 0;
  if (!id)
    return 0;
  pthread_mutex_lock(&id->mu);
  for (size_t i = 0; i < IDENTITY_LIMITER_SLOTS; i++)
    n += id->slots[i].key != 0;
  pthread_mutex_unlock(&id->mu);
  return n;
}

int identity_limiter_admit(struct identity *id, const char *addr, uint64_t now_ms,
                           uint64_t *ret_retry_ms) {
  int r = 0;
  pthread_mutex_lock(&id->mu);
  struct limiter_slot *sl = slot_for(id, addr ? addr : "", now_ms, false);
  if (sl && sl->until_ms > now_ms) {
    if (ret_retry_ms)
      *ret_retry_ms = sl->until_ms - now_ms;
    r = -EAGAIN;
  }
  pthread_mutex_unlock(&id->mu);
  return r;
}

void identity_limiter_record(struct identity *id, const char *addr, uint64_t now_ms, bool failed) {
  pthread_mutex_lock(&id->mu);
  struct limiter_slot *sl = slot_for(id, addr ? addr : "", now_ms, failed);
  if (sl && !failed) {
    sl->failures = 0;
    sl->until_ms = 0;
  } else if (sl) {
    sl->failures++;
    sl->last_ms = now_ms;
    if (sl->failures > IDENTITY_FREE_FAILURES) {
      unsigned sh = sl->failures - IDENTITY_FREE_FAILURES - 1;
      uint64_t d = sh >= 10 ? IDENTITY_MAX_DELAY_MS : 250ull << sh;
      sl->until_ms = now_ms + (d > IDENTITY_MAX_DELAY_MS ? IDENTITY_MAX_DELAY_MS : d);
    }
  }
  pthread_mutex_unlock(&id->mu);
}

/* ---- issuance ---- */

void identity_issued_clear(struct identity_issued *x) {
  if (!x)
    return;
  free(x->cert);
  memset(x, 0, sizeof(*x));
}

static void sanitize_into(char *dst, size_t cap, const char *src) {
  size_t j = 0;
  for (size_t i = 0; src && src[i] && j + 1 < cap; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[j++] = ch >= 0x21 && ch < 0x7f ? (char)ch : '?';
  }
  dst[j] = 0;
}

static int note(struct store_batch *b, const struct store_actor *a, const char *action,
                const struct identity_join_req *req, const char *why, int r) {
  char obj[200], addr[64];
  sanitize_into(addr, sizeof(addr), req->address);
  snprintf(obj, sizeof(obj), "address:%s reason:%s", addr, why);
  int w = store_audit_note(b, a, action, obj, r);
  return w < 0 ? w : r;
}

static const char *token_reason(int r) {
  switch (r) {
  case JT_E_EMPTY: return "token_empty";
  case JT_E_SPACE: return "token_whitespace";
  case JT_E_CASE: return "token_case";
  case JT_E_PREFIX: return "token_prefix";
  case JT_E_VERSION: return "token_version";
  case JT_E_FIELDS: return "token_fields";
  case JT_E_DIGEST_LEN: return "token_digest_length";
  case JT_E_SECRET_LEN: return "token_secret_length";
  case JT_E_CHAR: return "token_character";
  case JT_E_RANGE: return "token_range";
  case JT_E_CA_MISMATCH: return "token_other_cluster";
  default: return "token_malformed";
  }
}

static const char *csr_reason(int r) {
  switch (r) {
  case -EMSGSIZE: return "csr_too_large";
  case CA_E_CSR_PARSE: return "csr_malformed";
  case CA_E_CSR_SIGNATURE: return "csr_bad_signature";
  case CA_E_KEY_TYPE: return "csr_key_type";
  default: return "csr_refused";
  }
}

int identity_join(struct identity *id, struct store_batch *b, const struct store_actor *a,
                  const struct identity_join_req *req, int64_t now_s,
                  struct identity_issued *ret) {
  uint8_t digest[JOIN_TOKEN_DIGEST_BYTES];
  struct secbuf *secret = NULL;
  struct identity_issued out = {.role = CA_ROLE_WORKER};
  uint8_t serial[CA_SERIAL_LEN];
  int r;
  if (!id || !b || !req || !ret)
    return -EINVAL;
  /* 1. the token's form, then that it names our CA */
  if ((r = join_token_parse((const char *)req->token, req->token_len, digest, &secret)) < 0)
    return note(b, a, "node.join", req, token_reason(r), r);
  pthread_mutex_lock(&id->mu);
  r = join_token_check_ca(digest, id->cluster->ca_cert, id->cluster->ca_cert_len);
  uint32_t lifetime = id->cluster->cert_lifetime_s;
  pthread_mutex_unlock(&id->mu);
  if (r < 0) {
    r = note(b, a, "node.join", req, token_reason(r), r);
    goto out;
  }
  /* 2. the secret, expiry and uses (cheap, before any signing) */
  if ((r = store_token_check(id->store, secret, now_s)) < 0) {
    const char *why = store_identity_audit_code(r);
    r = note(b, a, "node.join", req, why ? why : "token_refused", r);
    goto out;
  }
  /* 3. a returning node keeps its id only with a valid proof, not denied,
   * same role; anything else joins as a new node */
  if (req->old_cert && req->pop) {
    struct ca_node_info info;
    pthread_mutex_lock(&id->mu);
    int p = ca_pop_verify(id->ca, req->old_cert, req->old_cert_len, req->csr, req->csr_len,
                          req->pop, req->pop_len, &info);
    pthread_mutex_unlock(&id->mu);
    struct store_node prev;
    /* only the key of the node's latest certificate proves the id: a key
     * stolen before a renewal proves nothing */
    if (p == 0 && info.role == CA_ROLE_WORKER &&
        store_node_denied(id->store, info.node_id, now_s) == 0 &&
        (store_node_get(id->store, info.node_id, &prev) != 0 ||
         sodium_memcmp(prev.serial, info.serial, CA_SERIAL_LEN) == 0)) {
      memcpy(out.node_id, info.node_id, sizeof(out.node_id));
      out.kept_id = true;
    }
  }
  if (!out.kept_id && (r = ca_new_id(out.node_id)) < 0)
    goto out;
  /* 4. the CSR: every check is ca_issue's; only its public key is used */
  pthread_mutex_lock(&id->mu);
  r = ca_issue(id->ca, req->csr, req->csr_len, out.node_id, CA_ROLE_WORKER, lifetime, &out.cert,
               &out.cert_len, serial, &out.not_after);
  pthread_mutex_unlock(&id->mu);
  if (r < 0) {
    r = note(b, a, "node.join", req, csr_reason(r), r);
    goto out;
  }
  /* 5. record the node and consume a use, atomically with the token check */
  struct store_node n = {.role = CA_ROLE_WORKER, .not_after_s = out.not_after};
  memcpy(n.id, out.node_id, sizeof(n.id));
  memcpy(n.serial, serial, sizeof(n.serial));
  n.created_ns = n.updated_ns = n.last_seen_ns = (uint64_t)now_s * 1000000000ull;
  sanitize_into(n.hostname, sizeof(n.hostname), req->hostname);
  sanitize_into(n.address, sizeof(n.address), req->address);
  if ((r = store_node_join(b, a, secret, now_s, &n, out.kept_id)) < 0)
    goto out;
  *ret = out;
  out.cert = NULL;
  r = 0;
out:
  secbuf_free(secret);
  sodium_memzero(digest, sizeof(digest));
  identity_issued_clear(&out);
  return r;
}

int identity_renew(struct identity *id, struct store_batch *b, const struct store_actor *a,
                   const char *node_id, const uint8_t *csr, size_t csr_len, int64_t now_s,
                   struct identity_issued *ret) {
  struct store_node n;
  struct identity_issued out = {0};
  uint8_t serial[CA_SERIAL_LEN];
  int r;
  if (!id || !b || !node_id || !ret)
    return -EINVAL;
  if ((r = store_node_get(id->store, node_id, &n)) < 0) {
    r = r == -ENOENT ? STORE_ID_E_UNKNOWN : r;
    char obj[80];
    snprintf(obj, sizeof(obj), "node:%.26s", node_id);
    int w = store_audit_note(b, a, "node.renew", obj, r);
    return w < 0 ? w : r;
  }
  pthread_mutex_lock(&id->mu);
  r = ca_issue(id->ca, csr, csr_len, node_id, (enum ca_role)n.role, id->cluster->cert_lifetime_s,
               &out.cert, &out.cert_len, serial, &out.not_after);
  pthread_mutex_unlock(&id->mu);
  if (r < 0) {
    char obj[120];
    snprintf(obj, sizeof(obj), "node:%s reason:%s", node_id, csr_reason(r));
    int w = store_audit_note(b, a, "node.renew", obj, r);
    identity_issued_clear(&out);
    return w < 0 ? w : r;
  }
  if ((r = store_node_renew(b, a, node_id, serial, out.not_after, now_s)) < 0) {
    identity_issued_clear(&out);
    return r;
  }
  memcpy(out.node_id, node_id, sizeof(out.node_id));
  memcpy(out.serial, serial, sizeof(out.serial));
  out.role = (enum ca_role)n.role;
  out.kept_id = true;
  *ret = out;
  return 0;
}

/* ---- authorization ---- */

int identity_authorize(struct identity *id, X509 *leaf, int64_t now_s, struct identity_peer *ret) {
  struct ca_node_info info;
  uint8_t *der = NULL;
  int r, len;
  if (!id || !ret)
    return -EINVAL;
  if (!leaf) {
    *ret = (struct identity_peer){.wire_role = WIRE_ROLE_ANON};
    return 0;
  }
  if ((len = i2d_X509(leaf, &der)) <= 0)
    return CA_E_CERT_PARSE;
  /* Chain, signature and the node fields of this cluster; the validity
   * period is checked below against now_s (the caller's clock). */
  pthread_mutex_lock(&id->mu);
  r = ca_verify_node_cert(id->ca, der, (size_t)len, 0, &info);
  pthread_mutex_unlock(&id->mu);
  OPENSSL_free(der);
  if (r < 0)
    return r;
  const ASN1_TIME *nb = X509_get0_notBefore(leaf), *na = X509_get0_notAfter(leaf);
  time_t t = (time_t)now_s;
  if (X509_cmp_time(nb, &t) > 0 || X509_cmp_time(na, &t) <= 0)
    return STORE_ID_E_CERT_EXPIRED;
  struct identity_peer p = {.not_after_s = info.not_after};
  memcpy(p.node_id, info.node_id, sizeof(p.node_id));
  memcpy(p.serial, info.serial, sizeof(p.serial));
  if ((r = identity_recheck(id, &p, now_s)) < 0)
    return r;
  *ret = p;
  return 0;
}

int identity_recheck(struct identity *id, struct identity_peer *p, int64_t now_s) {
  struct store_node n;
  int r;
  if (!id || !p)
    return -EINVAL;
  if (p->wire_role == WIRE_ROLE_ANON)
    return 0;
  if (now_s >= p->not_after_s)
    return STORE_ID_E_CERT_EXPIRED;
  if ((r = store_node_denied(id->store, p->node_id, now_s)) != 0)
    return r < 0 ? r : STORE_ID_E_DENIED;
  if ((r = store_node_get(id->store, p->node_id, &n)) == -ENOENT)
    return STORE_ID_E_UNKNOWN;
  if (r < 0)
    return r;
  if (sodium_memcmp(n.serial, p->serial, CA_SERIAL_LEN) != 0)
    return STORE_ID_E_STALE;
  if (n.role != CA_ROLE_WORKER && n.role != CA_ROLE_MANAGER)
    return STORE_ID_E_ROLE;
  p->role = (enum ca_role)n.role;
  p->wire_role = n.role == CA_ROLE_MANAGER ? WIRE_ROLE_MANAGER : WIRE_ROLE_WORKER;
  return 0;
}

const char *identity_node_status(const struct store_node *n, uint64_t now_ns,
                                 uint64_t down_after_ms) {
  uint64_t window = (down_after_ms ? down_after_ms : (uint64_t)IDENTITY_DOWN_AFTER_S * 1000u) *
                    1000000ull;
  return n->last_seen_ns + window >= now_ns ? "ready" : "down";
}

int64_t identity_deny_until(const struct store_node *n, int64_t now_s) {
  int64_t until = n->not_after_s + CA_SKEW_SECONDS;
  return until > now_s + CA_SKEW_SECONDS ? until : now_s + CA_SKEW_SECONDS;
}
