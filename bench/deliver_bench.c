/*
 * deliver_bench: deliveries per second that one secretd core sustains through
 * the node authorizer (secretd/authorizer.h) on a real LMDB store, each
 * delivery audited, and the memory dispatch keeps per agent.
 *
 *   deliver_bench [AGENTS [SECRETS [REQUESTS]]]   (defaults 1000 10 20000)
 *
 * World: AGENTS nodes, one service (one task) on each, every service granted
 * SECRETS secrets. A request is one agent asking for all the versions its task
 * is granted (SECRETS deliveries), from a random agent. Printed, in one run:
 *   1. the authorizer alone (checks + decryption into secret memory + packing
 *      the reply), no audit;
 *   2. the same with every delivery audited, group-committed as secretd's
 *      commit queue does under load (one store batch per 32 requests);
 *   3. the same with one commit per request (no batching: the floor);
 * each as deliveries per CPU-second of this process (one core: the program is
 * single-threaded) and per wall second (fsync waits included), and compared
 * with the reference of issue 11: one delivery over an open mutual-TLS
 * connection costs about 50 us of work on this machine kind (20,000/s/core).
 * Then the memory per agent: the change tracker's record (measured with
 * mallinfo2 over all agents, and its formula) and the size of an assignment
 * set. No network: the same deliveries over mutual TLS from 1,000 joined agents
 * (transport, session, recheck included) are bench/deliver_load.sh's figure.
 */
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bench/measure.h"
#include "crypto/keys.h"
#include "crypto/secbuf.h"
#include "secretd/authorizer.h"
#include "secretd/dispatch.h"
#include "store/services.h"
#include "wire/msg.h"

#define REF_US_PER_DELIVERY 50.0 /* issue 11: one delivery over open mutual TLS */
#define GROUP 32                 /* requests per batch in the group-commit run */

static char dir[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st; (void)flag; (void)f;
  return remove(p);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int r) {
  fprintf(stderr, "deliver_bench: %s: %d\n", what, r);
  if (dir[0])
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  exit(1);
}

struct agent {
  char node[32], service[32], task[33];
};

struct world {
  struct store *s;
  size_t n_agents, n_secrets;
  struct agent *agents;
  char (*secret_ids)[33];
  uint32_t *versions;
};

static void build_world(struct world *w) {
  struct store_batch *b;
  struct store_actor a = {0};
  struct secbuf *v;
  int r;
  w->agents = calloc(w->n_agents, sizeof(*w->agents));
  w->secret_ids = calloc(w->n_secrets, sizeof(*w->secret_ids));
  w->versions = calloc(w->n_secrets, sizeof(*w->versions));
  if ((r = store_batch_begin(w->s, &b)) < 0)
    die("batch", r);
  for (size_t i = 0; i < w->n_secrets; i++) {
    char name[32], val[64];
    snprintf(name, sizeof(name), "secret%03zu", i);
    randombytes_buf(val, 32);
    if ((r = secbuf_from(val, 32, &v)) < 0 ||
        (r = store_secret_create(b, &a, name, v, NULL, 0, w->secret_ids[i])) < 0)
      die("create", r);
    secbuf_free(v);
    sodium_memzero(val, sizeof(val));
    /* a second version, so that the granted one is not the first */
    randombytes_buf(val, 48);
    if ((r = secbuf_from(val, 48, &v)) < 0 ||
        (r = store_secret_rotate(b, &a, name, v, &w->versions[i])) < 0)
      die("rotate", r);
    secbuf_free(v);
  }
  for (size_t i = 0; i < w->n_agents; i++) {
    struct agent *ag = &w->agents[i];
    snprintf(ag->node, sizeof(ag->node), "node%05zu", i);
    snprintf(ag->service, sizeof(ag->service), "svc%05zu", i);
    if ((r = store_service_create(b, &a, ag->service, ag->node, "\x81\xa1v\x01", 4)) < 0)
      die("service", r);
    for (size_t j = 0; j < w->n_secrets; j++) {
      struct store_grant g;
      char name[32];
      snprintf(name, sizeof(name), "secret%03zu", j);
      store_grant_defaults(&g);
      g.service = ag->service;
      if ((r = store_grant_add(b, &a, name, &g)) < 0)
        die("grant", r);
    }
  }
  if ((r = store_batch_commit(b)) < 0)
    die("commit", r);
  for (size_t i = 0; i < w->n_agents; i++) {
    struct store_service_info *si;
    if ((r = store_service_inspect(w->s, w->agents[i].service, &si)) < 0)
      die("inspect", r);
    memcpy(w->agents[i].task, si->tasks[0].id, 33);
    store_service_info_free(si, 1);
  }
}

/* One request of a random agent: check, pack the reply, release. Returns the
 * deliveries made; the request is kept in *r for the audit (caller releases). */
static size_t one_request(struct world *w, struct authz_request *r) {
  const struct agent *ag = &w->agents[randombytes_uniform((uint32_t)w->n_agents)];
  memset(r, 0, sizeof(*r));
  snprintf(r->node, sizeof(r->node), "%s", ag->node);
  snprintf(r->service, sizeof(r->service), "%s", ag->service);
  memcpy(r->task, ag->task, 33);
  r->items = calloc(w->n_secrets, sizeof(*r->items));
  r->n = w->n_secrets;
  for (size_t j = 0; j < w->n_secrets; j++) {
    memcpy(r->items[j].secret_id, w->secret_ids[j], 33);
    r->items[j].version = w->versions[j];
  }
  int rc = authz_check(w->s, r);
  if (rc < 0 || r->code != 0 || r->delivered != w->n_secrets)
    die("authz_check (expected every delivery to pass)", rc ? rc : r->code);
  struct wire_buf out = {0};
  msgpack_packer pk;
  wire_buf_init(&out, &pk);
  authz_pack(&pk, r);
  if (out.failed)
    die("pack", -ENOMEM);
  wire_buf_release(&out); /* wiped */
  return r->delivered;
}

struct figure {
  double deliveries, cpu, wall;
};

/* requests requests; audit: 0 none, else requests per commit. */
static struct figure run(struct world *w, size_t requests, size_t per_commit) {
  struct authz_request *rs = calloc(per_commit ? per_commit : 1, sizeof(*rs));
  struct figure f = {0};
  double c0 = bench_cpu_self(), t0 = now_s();
  size_t pending = 0;
  for (size_t i = 0; i < requests; i++) {
    f.deliveries += one_request(w, &rs[pending]);
    if (!per_commit) {
      authz_release(&rs[0]);
      continue;
    }
    if (++pending == per_commit || i + 1 == requests) {
      struct store_batch *b;
      int r = store_batch_begin(w->s, &b);
      for (size_t k = 0; r == 0 && k < pending; k++)
        r = authz_audit(b, &rs[k], 0);
      if (r < 0 || (r = store_batch_commit(b)) < 0)
        die("audit batch", r);
      for (size_t k = 0; k < pending; k++)
        authz_release(&rs[k]);
      pending = 0;
    }
  }
  f.cpu = bench_cpu_self() - c0;
  f.wall = now_s() - t0;
  free(rs);
  return f;
}

static void print_figure(const char *what, struct figure f) {
  double per_cpu = f.deliveries / f.cpu, per_wall = f.deliveries / f.wall;
  double us = 1e6 * f.cpu / f.deliveries;
  printf("  %-44s %9.0f /s per core (%6.2f us CPU each) %9.0f /s wall   x%.1f the reference\n",
         what, per_cpu, us, per_wall, REF_US_PER_DELIVERY / us);
}

int main(int argc, char **argv) {
  struct world w = {.n_agents = 1000, .n_secrets = 10};
  size_t requests = 20000;
  struct sd_key *k;
  int r;
  if (argc > 1)
    w.n_agents = strtoul(argv[1], NULL, 10);
  if (argc > 2)
    w.n_secrets = strtoul(argv[2], NULL, 10);
  if (argc > 3)
    requests = strtoul(argv[3], NULL, 10);
  if (!w.n_agents || !w.n_secrets || w.n_secrets > STORE_DELIVER_MAX || !requests) {
    fprintf(stderr, "usage: deliver_bench [AGENTS [SECRETS (1..256) [REQUESTS]]]\n");
    return 2;
  }
  if (sodium_init() < 0)
    die("sodium_init", -1);
  strcpy(dir, "/tmp/sddeliverXXXXXX");
  if (!mkdtemp(dir))
    die("mkdtemp", -errno);
  if ((r = sd_key_generate(&k)) < 0 || (r = store_init(dir, k, NULL)) < 0 ||
      (r = store_open(dir, k, NULL, &w.s)) < 0)
    die("store", r);
  sd_key_free(k);
  double t0 = now_s();
  build_world(&w);
  printf("deliver_bench: %zu agents (one task each), %zu secrets granted to every task, "
         "%zu requests of %zu deliveries (world built in %.1f s)\n",
         w.n_agents, w.n_secrets, requests, w.n_secrets, now_s() - t0);
  bench_fs_print(stdout, "  store ", dir);

  run(&w, requests / 10 + 1, 0); /* warm the page cache and the key */
  print_figure("authorizer only (no audit)", run(&w, requests, 0));
  print_figure("authorizer + audit, group commit (32 req/batch)", run(&w, requests, GROUP));
  print_figure("authorizer + audit, one commit per request", run(&w, requests / 10 + 1, 1));
  printf("  reference (issue 11): one delivery over open mutual TLS ~ %.0f us of work = %.0f "
         "/s per core; goal >= 20,000 audited deliveries/s per core\n",
         REF_US_PER_DELIVERY, 1e6 / REF_US_PER_DELIVERY);

  /* memory per agent: the change tracker's record of every agent */
  struct dispatch_tracker *t;
  struct dispatch_nodeset set = {0};
  struct dispatch_node_change *ch = NULL;
  size_t n_ch = 0, sample = w.n_agents;
  for (size_t i = 0; i < sample; i++)
    dispatch_nodeset_add(&set, w.agents[i].node);
  if ((r = dispatch_tracker_new(&t)) < 0)
    die("tracker", r);
  struct mallinfo2 m0 = mallinfo2();
  t0 = now_s();
  if ((r = dispatch_tracker_diff(t, w.s, &set, &ch, &n_ch)) < 0)
    die("tracker diff", r);
  double build_s = now_s() - t0;
  size_t set_bytes = 0;
  if (n_ch) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    wire_assignments_pack(&pk, &ch[0].set);
    set_bytes = sb.size;
    msgpack_sbuffer_destroy(&sb);
  }
  dispatch_changes_free(ch, n_ch);
  struct mallinfo2 m1 = mallinfo2();
  char measured[64] = "n/a (the allocator keeps no mallinfo2: sanitizers)";
  if (m1.uordblks > m0.uordblks)
    snprintf(measured, sizeof(measured), "%zu bytes measured",
             (size_t)(m1.uordblks - m0.uordblks) / sample);
  printf("  memory per agent: tracker record %s (%zu by its formula: 1 task, %zu grants), "
         "assignment set %zu bytes on the wire\n",
         measured, dispatch_tracker_node_bytes(1, w.n_secrets), w.n_secrets, set_bytes);
  printf("  change tracking after a write touching all %zu agents (a rotation of a secret granted "
         "to every service): %.1f ms to rebuild and diff their sets (one snapshot: %zu tasks, "
         "%zu grants)\n",
         sample, 1e3 * build_s, w.n_agents, w.n_agents * w.n_secrets);
  /* one node alone: what node.assignments costs at a (re)connection */
  struct wire_assignments one = {0};
  t0 = now_s();
  for (int i = 0; i < 20; i++) {
    if ((r = dispatch_build(w.s, w.agents[i % w.n_agents].node, &one, NULL)) < 0)
      die("build", r);
    wire_assignments_clear(&one);
  }
  printf("  building one agent's set (node.assignments at a reconnection): %.2f ms\n",
         1e3 * (now_s() - t0) / 20);
  dispatch_tracker_free(t);
  dispatch_nodeset_clear(&set);
  store_close(w.s);
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(w.agents);
  free(w.secret_ids);
  free(w.versions);
  return 0;
}
