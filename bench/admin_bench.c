/*
 * admin_bench: end-to-end throughput of a running secretd's admin API.
 * Starts nothing itself: connects N concurrent clients (one thread and one
 * connection each) to --socket and measures, for 1 KiB values:
 *   creates/s at each N of --clients (default 1,8,64): group commit at work;
 *   inspects/s and rotates/s at 8 clients.
 * Each client sends one request and waits for its reply (closed loop), so
 * throughput above one fsync per op can come only from group commit.
 * Frames are encoded here with msgpack-c (4-byte big-endian length + map
 * {"v":1,"id","op","args"}), a deliberately minimal blocking client.
 *
 * Every row also prints the CPU time this load generator spent on it
 * (getrusage, all threads) and, with --server-pid, the server's CPU time
 * (/proc/PID/stat), each in seconds and per op, so that the figures compare
 * with etcd_bench's rows on equal terms.
 * secret.inspect writes an audit record and replies only after its durable
 * group commit, so its row is labelled so.
 *
 * Usage: admin_bench --socket PATH [--seconds S] [--clients 1,8,64] [--value-size N]
 *                    [--server-pid PID]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "bench/measure.h"

struct client {
  int fd;
  uint64_t next_id;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  char *rbuf;
  size_t rcap;
};

static const char *sock_path;
static size_t value_size = 1024;
static char *value;
static volatile bool stop_flag;
static unsigned run_no;
static pid_t server_pid;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int client_open(struct client *c) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memset(c, 0, sizeof(*c));
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    return -errno;
  msgpack_sbuffer_init(&c->sb);
  msgpack_packer_init(&c->pk, &c->sb, msgpack_sbuffer_write);
  return 0;
}

static void client_close(struct client *c) {
  if (c->fd >= 0)
    close(c->fd);
  msgpack_sbuffer_destroy(&c->sb);
  free(c->rbuf);
}

static void pack_cstr(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

/* Start a request map; the caller packs the args map (n_args entries). */
static void req_begin(struct client *c, const char *op, uint32_t n_args) {
  msgpack_sbuffer_clear(&c->sb);
  char hdr[4] = {0};
  msgpack_sbuffer_write(&c->sb, hdr, 4);
  msgpack_pack_map(&c->pk, 4);
  pack_cstr(&c->pk, "v");
  msgpack_pack_uint32(&c->pk, 1);
  pack_cstr(&c->pk, "id");
  msgpack_pack_uint64(&c->pk, ++c->next_id);
  pack_cstr(&c->pk, "op");
  pack_cstr(&c->pk, op);
  pack_cstr(&c->pk, "args");
  msgpack_pack_map(&c->pk, n_args);
}

static int io_all(int fd, char *p, size_t n, bool wr) {
  while (n) {
    ssize_t k = wr ? write(fd, p, n) : read(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return k < 0 ? -errno : -ECONNRESET;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Send the request, read the reply; 0 if "ok" is true, -EPROTO otherwise. */
static int req_finish(struct client *c) {
  uint32_t n = (uint32_t)(c->sb.size - 4);
  unsigned char hdr[4] = {n >> 24, n >> 16, n >> 8, n};
  memcpy(c->sb.data, hdr, 4);
  int r = io_all(c->fd, c->sb.data, c->sb.size, true);
  if (r < 0 || (r = io_all(c->fd, (char *)hdr, 4, false)) < 0)
    return r;
  n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (n == 0 || n > (2u << 20))
    return -EPROTO;
  if (n > c->rcap) {
    free(c->rbuf);
    c->rbuf = malloc(n);
    c->rcap = c->rbuf ? n : 0;
    if (!c->rbuf)
      return -ENOMEM;
  }
  if ((r = io_all(c->fd, c->rbuf, n, false)) < 0)
    return r;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  r = -EPROTO;
  if (msgpack_unpack_next(&u, c->rbuf, n, NULL) == MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_MAP) {
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
      msgpack_object *k = &u.data.via.map.ptr[i].key, *v = &u.data.via.map.ptr[i].val;
      if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 && !memcmp(k->via.str.ptr, "ok", 2))
        r = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean ? 0 : -EPROTO;
    }
  }
  msgpack_unpacked_destroy(&u);
  return r;
}

static int do_create(struct client *c, const char *name) {
  req_begin(c, "secret.create", 2);
  pack_cstr(&c->pk, "name");
  pack_cstr(&c->pk, name);
  pack_cstr(&c->pk, "value");
  msgpack_pack_bin(&c->pk, value_size);
  msgpack_pack_bin_body(&c->pk, value, value_size);
  return req_finish(c);
}

static int do_ref_op(struct client *c, const char *op, const char *ref, bool with_value) {
  req_begin(c, op, with_value ? 2 : 1);
  pack_cstr(&c->pk, "ref");
  pack_cstr(&c->pk, ref);
  if (with_value) {
    pack_cstr(&c->pk, "value");
    msgpack_pack_bin(&c->pk, value_size);
    msgpack_pack_bin_body(&c->pk, value, value_size);
  }
  return req_finish(c);
}

enum kind { CREATE, INSPECT, ROTATE };
struct worker {
  pthread_t th;
  unsigned idx;
  enum kind kind;
  uint64_t ops, errors;
  int open_error;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct client c;
  char name[64];
  if ((w->open_error = client_open(&c)) < 0)
    return NULL;
  for (uint64_t i = 0; !stop_flag; i++) {
    int r;
    if (w->kind == CREATE) {
      snprintf(name, sizeof(name), "b%u_%u_%llu", run_no, w->idx, (unsigned long long)i);
      r = do_create(&c, name);
    } else {
      snprintf(name, sizeof(name), "seed%u", w->idx % 8);
      r = do_ref_op(&c, w->kind == INSPECT ? "secret.inspect" : "secret.rotate", name,
                    w->kind == ROTATE);
    }
    if (r == 0)
      w->ops++;
    else if (r == -EPROTO)
      w->errors++;
    else
      break;
  }
  client_close(&c);
  return NULL;
}

/* One row: ops/s, and CPU seconds of this client and of the server (-1: not measured). */
struct point {
  double rate, client_cpu, server_cpu;
  uint64_t ops;
};

static int run_point(enum kind kind, unsigned n, double seconds, struct point *ret) {
  struct worker *ws = calloc(n, sizeof(*ws));
  uint64_t ops = 0, errors = 0;
  double srv0 = -1, srv1 = -1;
  if (!ws)
    return -ENOMEM;
  run_no++;
  stop_flag = false;
  if (server_pid > 0 && bench_cpu_pid(server_pid, &srv0) < 0) {
    fprintf(stderr, "admin_bench: cannot read the CPU time of server pid %d\n", (int)server_pid);
    free(ws);
    return -ESRCH;
  }
  double cpu0 = bench_cpu_self();
  double t0 = now();
  for (unsigned i = 0; i < n; i++) {
    ws[i] = (struct worker){.idx = i, .kind = kind};
    pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
  }
  while (now() - t0 < seconds)
    usleep(20000);
  stop_flag = true;
  int r = 0;
  for (unsigned i = 0; i < n; i++) {
    pthread_join(ws[i].th, NULL);
    ops += ws[i].ops;
    errors += ws[i].errors;
    if (ws[i].open_error)
      r = ws[i].open_error;
  }
  double dt = now() - t0;
  double cpu1 = bench_cpu_self();
  free(ws);
  if (r < 0) {
    fprintf(stderr, "admin_bench: cannot connect to %s: %s\n", sock_path, strerror(-r));
    return r;
  }
  if (server_pid > 0 && bench_cpu_pid(server_pid, &srv1) < 0) {
    fprintf(stderr, "admin_bench: server pid %d is gone\n", (int)server_pid);
    return -ESRCH;
  }
  if (errors) { /* a figure that counts refusals would not measure the operation */
    fprintf(stderr, "admin_bench: %llu requests refused by secretd\n", (unsigned long long)errors);
    return -EPROTO;
  }
  *ret = (struct point){.rate = (double)ops / dt, .ops = ops, .client_cpu = cpu1 - cpu0,
                        .server_cpu = server_pid > 0 ? srv1 - srv0 : -1};
  return 0;
}

/* "OP (1 KiB, durable)", or the size in bytes when it is not 1 KiB. */
static const char *with_size(const char *op, char *buf, size_t cap) {
  if (value_size == 1024)
    snprintf(buf, cap, "%s (1 KiB, durable)", op);
  else
    snprintf(buf, cap, "%s (%zu B, durable)", op, value_size);
  return buf;
}

static void print_row(const char *label, unsigned clients, const struct point *p) {
  double per = p->ops ? 1e6 / (double)p->ops : 0;
  printf("%-40s %7u %10.0f %9.2f %8.1f", label, clients, p->rate, p->client_cpu,
         p->client_cpu * per);
  if (p->server_cpu >= 0)
    printf(" %9.2f %8.1f", p->server_cpu, p->server_cpu * per);
  printf("\n");
  fflush(stdout);
}

static int seed(void) {
  struct client c;
  char name[32];
  int r = client_open(&c);
  for (unsigned i = 0; r == 0 && i < 8; i++) {
    snprintf(name, sizeof(name), "seed%u", i);
    r = do_create(&c, name);
    if (r == -EPROTO) /* exists from an earlier run */
      r = 0;
  }
  client_close(&c);
  return r;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"socket", required_argument, NULL, 's'},  {"seconds", required_argument, NULL, 't'},
      {"clients", required_argument, NULL, 'c'}, {"value-size", required_argument, NULL, 'v'},
      {"server-pid", required_argument, NULL, 'p'}, {0},
  };
  double seconds = 3;
  char clients_buf[128] = "1,8,64";
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 's': sock_path = optarg; break;
    case 't': seconds = atof(optarg); break;
    case 'c': snprintf(clients_buf, sizeof(clients_buf), "%s", optarg); break;
    case 'v': value_size = (size_t)strtoul(optarg, NULL, 10); break;
    case 'p': server_pid = (pid_t)strtol(optarg, NULL, 10); break;
    default: return 2;
    }
  }
  if (!sock_path || seconds <= 0 || value_size == 0 || value_size > 500 * 1024) {
    fprintf(stderr, "usage: admin_bench --socket PATH [--seconds S] [--clients 1,8,64] "
                    "[--value-size BYTES] [--server-pid PID]\n");
    return 2;
  }
  value = malloc(value_size);
  if (!value)
    return 1;
  for (size_t i = 0; i < value_size; i++)
    value[i] = (char)(rand() & 0xff);

  printf("%-40s %7s %10s %9s %8s", "operation", "clients", "ops/s", "clientCPU", "us/op");
  if (server_pid > 0)
    printf(" %9s %8s", "serverCPU", "us/op");
  printf("\n");
  struct point pt;
  char label[64];
  for (char *save = NULL, *tok = strtok_r(clients_buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    unsigned n = (unsigned)strtoul(tok, NULL, 10);
    if (n == 0 || n > 1024)
      continue;
    if (run_point(CREATE, n, seconds, &pt) < 0)
      return 1;
    print_row(with_size("secret.create", label, sizeof(label)), n, &pt);
  }
  if (seed() < 0) {
    fprintf(stderr, "admin_bench: cannot create the seed secrets\n");
    return 1;
  }
  if (run_point(INSPECT, 8, seconds, &pt) < 0)
    return 1;
  print_row("secret.inspect (audited, durable commit)", 8, &pt);
  if (run_point(ROTATE, 8, seconds, &pt) < 0)
    return 1;
  print_row(with_size("secret.rotate", label, sizeof(label)), 8, &pt);
  free(value);
  return 0;
}
