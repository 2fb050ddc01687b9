/*
 * etcd_bench: closed-loop load generator for etcd's v3 JSON gateway, the peer
 * of admin_bench (secretd). N client connections (HTTP/1.1 keep-alive,
 * TCP_NODELAY), all driven from one thread with poll(2). Each connection sends
 * one put (POST /v3/kv/put, {"key": base64, "value": base64 of VALUE_SIZE
 * random bytes}) and waits for its reply before the next, exactly like
 * admin_bench's clients: throughput above one fsync per put can come only from
 * the server's batching. When the time is up no new put is sent; puts in
 * flight complete and count, and the row's time ends when the last one did.
 *
 * Every row prints ops/s, the CPU time of this load generator (getrusage) and,
 * with --server-pid, of the server (/proc/PID/stat), in seconds and per put.
 *
 * Usage: etcd_bench --endpoint HOST:PORT [--seconds S] [--clients 1,8,64]
 *                   [--value-size BYTES] [--server-pid PID] [--wait S]
 * Exits 1 with a message when no etcd answers at the endpoint (retrying for
 * --wait seconds, default 0) or when any put fails: never prints a figure for
 * a server it could not measure.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/http_reply.h"
#include "bench/measure.h"

#define IN_CAP 16384
#define DRAIN_TIMEOUT_S 10.0

struct conn {
  int fd;
  unsigned idx;
  uint64_t sent;
  char *out;
  size_t out_len, out_off;
  char in[IN_CAP];
  size_t in_len;
  bool busy; /* a put is in flight */
};

static char host[256], port[16];
static char *value_b64; /* base64 of the random value, shared by every put */
static size_t value_size = 1024;
static pid_t server_pid;
static unsigned run_no;
static char last_error[512];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tcp_connect(void) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  int r = getaddrinfo(host, port, &hints, &ai);
  if (r != 0)
    return -EHOSTUNREACH;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    r = -errno;
    if (fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    return r;
  }
  freeaddrinfo(ai);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* Build the next put of c into c->out. */
static void build_put(struct conn *c) {
  char key[64], key_b64[96], body_head[160];
  snprintf(key, sizeof(key), "b%u_%u_%llu", run_no, c->idx, (unsigned long long)c->sent);
  sodium_bin2base64(key_b64, sizeof(key_b64), (const unsigned char *)key, strlen(key),
                    sodium_base64_VARIANT_ORIGINAL);
  int bh = snprintf(body_head, sizeof(body_head), "{\"key\":\"%s\",\"value\":\"", key_b64);
  size_t body_len = (size_t)bh + strlen(value_b64) + 2;
  int hl = snprintf(c->out, 768,
                    "POST /v3/kv/put HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n%s",
                    host, port, body_len, body_head);
  size_t vl = strlen(value_b64);
  memcpy(c->out + hl, value_b64, vl);
  memcpy(c->out + hl + vl, "\"}", 2);
  c->out_len = (size_t)hl + vl + 2;
  c->out_off = 0;
  c->in_len = 0;
  c->sent++;
  c->busy = true;
}

/* Write what the socket takes. 0 (maybe partial) or -errno. */
static int conn_write(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t k = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && errno == EAGAIN)
      return 0;
    if (k < 0)
      return -errno;
    c->out_off += (size_t)k;
  }
  return 0;
}

/* Read and, when a reply is complete, check it. 1 = reply ok, 0 = need more, <0 error. */
static int conn_read(struct conn *c) {
  for (;;) {
    ssize_t k = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && errno == EAGAIN)
      break;
    if (k < 0)
      return -errno;
    if (k == 0) {
      snprintf(last_error, sizeof(last_error), "etcd closed the connection");
      return -ECONNRESET;
    }
    c->in_len += (size_t)k;
    if (c->in_len == IN_CAP)
      break;
  }
  struct http_reply rep;
  char body[512];
  int r = http_reply_parse(c->in, c->in_len, body, sizeof(body), &rep);
  if (r == 0 && c->in_len == IN_CAP)
    r = -EPROTO;
  if (r < 0)
    snprintf(last_error, sizeof(last_error), "malformed HTTP reply");
  if (r <= 0)
    return r;
  if (rep.msg_len != c->in_len || !rep.keep_alive) {
    snprintf(last_error, sizeof(last_error), "%s", rep.keep_alive ? "bytes after the reply"
                                                                   : "etcd closes the connection");
    return -EPROTO;
  }
  /* A successful put's reply carries the response header with the new revision. */
  if (rep.status != 200 || !strstr(body, "\"header\"")) {
    snprintf(last_error, sizeof(last_error), "put refused: HTTP %d %.300s", rep.status, body);
    return -EPROTO;
  }
  c->busy = false;
  return 1;
}

struct point {
  double rate, client_cpu, server_cpu;
  uint64_t ops;
};

/* Run n connections for `seconds`; *ret filled on success. */
static int run_point(unsigned n, double seconds, struct point *ret) {
  struct conn *cs = calloc(n, sizeof(*cs));
  struct pollfd *pfd = calloc(n, sizeof(*pfd));
  size_t out_cap = strlen(value_b64) + 1024;
  uint64_t ops = 0;
  unsigned active = 0;
  double srv0 = 0, srv1 = 0, t_end = 0;
  int r = 0;
  if (!cs || !pfd) {
    r = -ENOMEM;
    goto out;
  }
  run_no++;
  for (unsigned i = 0; i < n; i++)
    cs[i].fd = -1;
  for (unsigned i = 0; i < n; i++) {
    cs[i].idx = i;
    if (!(cs[i].out = malloc(out_cap))) {
      r = -ENOMEM;
      goto out;
    }
    if ((cs[i].fd = tcp_connect()) < 0) {
      r = cs[i].fd;
      snprintf(last_error, sizeof(last_error), "connect: %s", strerror(-r));
      goto out;
    }
  }
  if (server_pid > 0 && (r = bench_cpu_pid(server_pid, &srv0)) < 0) {
    snprintf(last_error, sizeof(last_error), "cannot read the CPU time of pid %d", (int)server_pid);
    goto out;
  }
  double cpu0 = bench_cpu_self(), t0 = now(), deadline = t0 + seconds;
  for (unsigned i = 0; i < n; i++) {
    build_put(&cs[i]);
    if ((r = conn_write(&cs[i])) < 0)
      goto out;
    active++;
  }
  while (active > 0) {
    double t = now();
    if (t > deadline + DRAIN_TIMEOUT_S) {
      snprintf(last_error, sizeof(last_error), "%u puts unanswered %.0f s after the end", active,
               DRAIN_TIMEOUT_S);
      r = -ETIMEDOUT;
      goto out;
    }
    for (unsigned i = 0; i < n; i++) {
      pfd[i].fd = cs[i].busy ? cs[i].fd : -1;
      pfd[i].events = POLLIN | (cs[i].out_off < cs[i].out_len ? POLLOUT : 0);
      pfd[i].revents = 0;
    }
    int k = poll(pfd, n, 100);
    if (k < 0 && errno != EINTR) {
      r = -errno;
      goto out;
    }
    for (unsigned i = 0; k > 0 && i < n; i++) {
      struct conn *c = &cs[i];
      if (!pfd[i].revents)
        continue;
      if ((pfd[i].revents & POLLOUT) && (r = conn_write(c)) < 0)
        goto out;
      if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) {
        if ((r = conn_read(c)) < 0)
          goto out;
        if (r == 1) {
          ops++;
          if (now() < deadline) {
            build_put(c);
            if ((r = conn_write(c)) < 0)
              goto out;
          } else {
            active--;
          }
        }
      }
    }
  }
  t_end = now();
  double cpu1 = bench_cpu_self();
  if (server_pid > 0 && (r = bench_cpu_pid(server_pid, &srv1)) < 0) {
    snprintf(last_error, sizeof(last_error), "server pid %d is gone", (int)server_pid);
    goto out;
  }
  *ret = (struct point){.rate = (double)ops / (t_end - t0), .ops = ops, .client_cpu = cpu1 - cpu0,
                        .server_cpu = server_pid > 0 ? srv1 - srv0 : -1};
  r = 0;
out:
  for (unsigned i = 0; cs && i < n; i++) {
    if (cs[i].fd >= 0)
      close(cs[i].fd);
    free(cs[i].out);
  }
  free(cs);
  free(pfd);
  return r;
}

/* One put on a fresh connection, retried until `wait_s` passed: is etcd there? */
static int probe(double wait_s) {
  double until = now() + wait_s;
  struct point p;
  int r;
  for (;;) {
    r = run_point(1, 0, &p); /* a starting etcd may refuse connections or puts */
    if (r == 0 || now() >= until)
      return r;
    usleep(100000);
  }
}

static void print_row(unsigned clients, const struct point *p) {
  double per = p->ops ? 1e6 / (double)p->ops : 0;
  char label[64];
  if (value_size == 1024)
    snprintf(label, sizeof(label), "etcd put (1 KiB, durable)");
  else
    snprintf(label, sizeof(label), "etcd put (%zu B, durable)", value_size);
  printf("%-40s %7u %10.0f %9.2f %8.1f", label, clients, p->rate,
         p->client_cpu, p->client_cpu * per);
  if (p->server_cpu >= 0)
    printf(" %9.2f %8.1f", p->server_cpu, p->server_cpu * per);
  printf("\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"endpoint", required_argument, NULL, 'e'},   {"seconds", required_argument, NULL, 't'},
      {"clients", required_argument, NULL, 'c'},    {"value-size", required_argument, NULL, 'v'},
      {"server-pid", required_argument, NULL, 'p'}, {"wait", required_argument, NULL, 'w'},
      {0},
  };
  double seconds = 3, wait_s = 0;
  const char *endpoint = NULL;
  char clients_buf[128] = "1,8,64";
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'e': endpoint = optarg; break;
    case 't': seconds = atof(optarg); break;
    case 'c': snprintf(clients_buf, sizeof(clients_buf), "%s", optarg); break;
    case 'v': value_size = (size_t)strtoul(optarg, NULL, 10); break;
    case 'p': server_pid = (pid_t)strtol(optarg, NULL, 10); break;
    case 'w': wait_s = atof(optarg); break;
    default: return 2;
    }
  }
  const char *colon = endpoint ? strrchr(endpoint, ':') : NULL;
  if (!colon || colon == endpoint || (size_t)(colon - endpoint) >= sizeof(host) ||
      strlen(colon + 1) >= sizeof(port) || optind < argc || seconds <= 0 || wait_s < 0 ||
      value_size == 0 || value_size > 500 * 1024) {
    fprintf(stderr, "usage: etcd_bench --endpoint HOST:PORT [--seconds S] [--clients 1,8,64] "
                    "[--value-size BYTES] [--server-pid PID] [--wait S]\n");
    return 2;
  }
  if (sodium_init() < 0)
    return 1;
  snprintf(host, sizeof(host), "%.*s", (int)(colon - endpoint), endpoint);
  snprintf(port, sizeof(port), "%s", colon + 1);
  unsigned char *raw = malloc(value_size);
  size_t b64_len = sodium_base64_ENCODED_LEN(value_size, sodium_base64_VARIANT_ORIGINAL);
  value_b64 = malloc(b64_len);
  if (!raw || !value_b64)
    return 1;
  randombytes_buf(raw, value_size);
  sodium_bin2base64(value_b64, b64_len, raw, value_size, sodium_base64_VARIANT_ORIGINAL);
  free(raw);

  int r = probe(wait_s);
  if (r < 0) {
    fprintf(stderr, "etcd_bench: no etcd v3 JSON gateway answers puts at %s: %s\n", endpoint,
            last_error[0] ? last_error : strerror(-r));
    return 1;
  }
  printf("%-40s %7s %10s %9s %8s", "operation", "clients", "ops/s", "clientCPU", "us/op");
  if (server_pid > 0)
    printf(" %9s %8s", "serverCPU", "us/op");
  printf("\n");
  for (char *save = NULL, *tok = strtok_r(clients_buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    unsigned n = (unsigned)strtoul(tok, NULL, 10);
    struct point p;
    if (n == 0 || n > 1024) {
      fprintf(stderr, "etcd_bench: client count '%s' out of 1..1024\n", tok);
      return 2;
    }
    if ((r = run_point(n, seconds, &p)) < 0) {
      fprintf(stderr, "etcd_bench: %u clients: %s\n", n, last_error[0] ? last_error : strerror(-r));
      return 1;
    }
    print_row(n, &p);
  }
  free(value_b64);
  return 0;
}
