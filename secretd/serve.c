/*
 * secretd serve: foreground daemon. Locks the data dir, opens the store with
 * the unlock key (stdin or a key file, never argv), binds the admin socket
 * (0660, --admin-group), runs the libuv loop until SIGTERM/SIGINT, then
 * finishes the running batch, closes the store and removes the socket.
 */
#include "secretd/serve.h"
#include "secretd/identity.h"
#include "secretd/listen.h"
#include "secretd/push_hook.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"
#include "base/parse.h"
#include "secretd/commit_queue.h"
#include "secretd/dispatch.h"
#include "secretd/log.h"
#include "secretd/secretd.h"
#include "store/store.h"

struct serve_opts {
  const char *dir, *socket, *group, *key_file, *audit_file, *listen;
  size_t map_size;
  unsigned keep_versions;
  uint32_t hb_ms, hb_missed; /* --listen sessions: 0 = wire/session.h's defaults */
  uint32_t mcert_check_ms;    /* 0 = MANAGER_CERT_CHECK_DEFAULT_MS */
};

static int parse_opts(int argc, char **argv, struct serve_opts *o) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, 'd'},
      {"admin-socket", required_argument, NULL, 's'},
      {"admin-group", required_argument, NULL, 'g'},
      {"unlock-key-file", required_argument, NULL, 'u'},
      {"audit-file", required_argument, NULL, 'a'},
      {"map-size", required_argument, NULL, 'm'},
      {"keep-versions", required_argument, NULL, 'k'},
      {"listen", required_argument, NULL, 'l'},
      {"heartbeat-ms", required_argument, NULL, 'H'},
      {"heartbeat-missed", required_argument, NULL, 'M'},
      {"manager-cert-check-ms", required_argument, NULL, 'C'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  uint64_t v;
  int c;
  *o = (struct serve_opts){.socket = SECRETD_DEFAULT_SOCKET};
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': o->dir = optarg; break;
    case 's': o->socket = optarg; break;
    case 'g': o->group = optarg; break;
    case 'u': o->key_file = optarg; break;
    case 'a': o->audit_file = optarg; break;
    case 'l': o->listen = optarg; break;
    case 'm':
      if (sd_parse_u64(optarg, SIZE_MAX, &v) < 0 || v < (1u << 20)) {
        log_err("--map-size wants a byte count of at least 1048576");
        return -EINVAL;
      }
      o->map_size = (size_t)v;
      break;
    case 'k':
      if (sd_parse_u64(optarg, 1000, &v) < 0 || v == 0) {
        log_err("--keep-versions wants a number from 1 to 1000");
        return -EINVAL;
      }
      o->keep_versions = (unsigned)v;
      break;
    case 'H':
      if (sd_parse_u64(optarg, 3600000, &v) < 0 || v < 100) {
        log_err("--heartbeat-ms wants milliseconds from 100 to 3600000");
        return -EINVAL;
      }
      o->hb_ms = (uint32_t)v;
      break;
    case 'M':
      if (sd_parse_u64(optarg, 100, &v) < 0 || v < 2) {
        log_err("--heartbeat-missed wants a count from 2 to 100");
        return -EINVAL;
      }
      o->hb_missed = (uint32_t)v;
      break;
    case 'C':
      if (sd_parse_u64(optarg, 86400000, &v) < 0 || v < 100) {
        log_err("--manager-cert-check-ms wants milliseconds from 100 to 86400000");
        return -EINVAL;
      }
      o->mcert_check_ms = (uint32_t)v;
      break;
    case 'h': return 1;
    default: return -EINVAL;
    }
  }
  if (!o->dir || optind != argc) {
    log_err("usage: secretd serve --data DIR [--admin-socket PATH] [--admin-group GROUP] "
            "[--unlock-key-file PATH] [--audit-file PATH] [--map-size BYTES] [--keep-versions N]\n"
         "       [--listen HOST:PORT [--heartbeat-ms MS] [--heartbeat-missed N]]\n"
         "       [--manager-cert-check-ms MS]");
    return -EINVAL;
  }
  return 0;
}

/* mkdir -p of the socket's directory (0755: the socket's own mode guards it). */
static int make_socket_dir(const char *path) {
  char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
  if (strlen(path) >= sizeof(buf))
    return -ENAMETOOLONG;
  strcpy(buf, path);
  char *dir = dirname(buf);
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

/* Something at the socket path: remove a stale socket; refuse a live one or a
 * non-socket. 0 (path free), -EADDRINUSE (live secretd), -EEXIST (not a socket). */
static int clear_stale_socket(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode))
    return -EEXIST;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
    return -EADDRINUSE;
  if (errno != ECONNREFUSED && errno != ENOENT)
    return -errno;
  if (unlink(path) < 0 && errno != ENOENT)
    return -errno;
  log_info("removed stale socket %s", path);
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
  struct server *s = server->data;
  if (status < 0) {
    log_warn("accept: %s", uv_strerror(status));
    return;
  }
  admin_accept(s);
}

static int listen_socket(struct server *s, const struct serve_opts *o) {
  int r;
  if ((r = make_socket_dir(o->socket)) < 0)
    return log_errno(r, "cannot create the socket directory");
  r = clear_stale_socket(o->socket);
  if (r == -EADDRINUSE) {
    log_err("another secretd is listening on %s", o->socket);
    return r;
  }
  if (r == -EEXIST) {
    log_err("%s exists and is not a socket; refusing to replace it", o->socket);
    return r;
  }
  if (r < 0)
    return log_errno(r, o->socket);
  if ((r = uv_pipe_init(s->loop, &s->listener, 0)) < 0)
    return log_errno(r, "uv_pipe_init");
  s->listener.data = s;
  /* Created 0600 by the umask, widened to 0660 with the group only after the
   * chown, so no moment exists where another group can connect. */
  mode_t old = umask(0177);
  r = uv_pipe_bind(&s->listener, o->socket);
  umask(old);
  if (r < 0)
    return log_err("cannot bind %s: %s", o->socket, uv_strerror(r)), r;
  if (s->have_group && chown(o->socket, (uid_t)-1, s->admin_gid) < 0)
    return log_errno(-errno, "cannot set the socket's group");
  if (chmod(o->socket, 0660) < 0)
    return log_errno(-errno, "cannot set the socket's mode");
  if ((r = uv_listen((uv_stream_t *)&s->listener, 128, on_connection)) < 0)
    return log_err("cannot listen on %s: %s", o->socket, uv_strerror(r)), r;
  return 0;
}

static void on_cq_idle(void *ud) {
  struct server *s = ud;
  /* The running batch is done: nothing holds the store now. */
  uv_stop(s->loop);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct server *s = h->data;
  if (s->stopping)
    return;
  s->stopping = true;
  log_info("received %s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  uv_close((uv_handle_t *)&s->listener, NULL);
  manager_cert_watch_stop(s->mcert); /* it frees itself */
  s->mcert = NULL;
  listen_stop(s->tls_listener);
  admin_close_all(s);
  cq_shutdown(s->cq, on_cq_idle, s);
}

/*
 * Raise the soft open-file limit to the hard one (systemd's default soft
 * limit is 1,024: that many held connections would lock every client out)
 * and size the connection cap below it, leaving room for the store, the
 * audit file, libuv and the thread pool. Returns the connection cap.
 */
static unsigned raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 512;
  rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
  if (rl.rlim_cur < want) {
    struct rlimit n = {want, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &n) == 0)
      rl.rlim_cur = want;
    else
      log_warn("cannot raise the open-file limit from %llu to %llu: %s",
               (unsigned long long)rl.rlim_cur, (unsigned long long)want, strerror(errno));
  }
  rlim_t cap = rl.rlim_cur > 512 ? rl.rlim_cur - 256 : rl.rlim_cur / 2;
  return cap > 65536 ? 65536 : (unsigned)cap;
}

/* The store's master key lingers readable between reads (one mprotect pair
 * per read cost more than the read); seal it again once a second. */
static void on_seal_keys(uv_timer_t *t) { store_seal_idle_keys(t->data); }

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static int resolve_group(const char *name, gid_t *ret) {
  struct group *g = getgrnam(name);
  if (!g) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    if (*name && !*end && !errno) {
      *ret = (gid_t)v;
      return 0;
    }
    return -ENOENT;
  }
  *ret = g->gr_gid;
  return 0;
}

static int open_store(const struct serve_opts *o, struct store **ret) {
  struct store_opts so = {
      .map_size = o->map_size, .keep_versions = o->keep_versions, .audit_file = o->audit_file};
  int r = unlock_open_store(o->dir, o->key_file, &so, ret);
  switch (r) {
  case 0: return 0;
  case SD_E_BADKEY: log_err("wrong unlock key"); break;
  case -EPERM: break; /* the key file was refused; unlock.c said why and how to fix it */
  case SD_E_SCHEMA:
    log_err("the store in %s has a schema version this secretd (schema %d) cannot open: a store "
            "made by secretd 0.1 before record authentication (schema 1) is not upgraded in "
            "place; restore its secrets into a new store (docs/operator-guide.md)", o->dir,
            STORE_SCHEMA_VERSION);
    break;
  case -EINVAL: log_err("the unlock key is not a valid SDUNLOCK-1 token"); break;
  case -ENODATA: log_err("no unlock key given (expected a token line on stdin)"); break;
  case -ENOENT:
    if (o->key_file) {
      log_err("cannot read the unlock key file %s: %s", o->key_file, sd_strerror(r));
      break;
    }
    __attribute__((fallthrough));
  default: log_err("cannot open the store in %s: %s", o->dir, sd_strerror(r)); break;
  }
  return r;
}

static int serve_run(const struct serve_opts *o) {
  _cleanup_close_ int lock_fd = -1;
  struct server s = {.max_conns = raise_fd_limit(), .hb_ms = o->hb_ms, .hb_missed = o->hb_missed};
  uv_loop_t loop;
  pid_t holder = 0;
  int r;

  if (o->group) {
    if (resolve_group(o->group, &s.admin_gid) < 0) {
      log_err("unknown group '%s'", o->group);
      return -ENOENT;
    }
    s.have_group = true;
  }
  r = serve_lock_acquire(o->dir, &lock_fd, &holder);
  if (r == SD_E_LOCKED) {
    log_err("store is in use by another secretd (pid %d)", (int)holder);
    return r;
  }
  if (r == SD_E_NOSTORE) {
    log_err("%s: no such directory (create a store with `secretd init --data %s`)", o->dir, o->dir);
    return r;
  }
  if (r < 0)
    return log_errno(r, o->dir);
  /* A new (or empty) audit file is filled with the chain so far: that is its start,
   * not a loss (`secretd init` writes records before any file is named). */
  struct stat ast;
  bool audit_file_new = o->audit_file && (stat(o->audit_file, &ast) < 0 || ast.st_size == 0);
  if ((r = open_store(o, &s.store)) < 0)
    return r;
  if (o->audit_file) {
    uint64_t n = store_audit_file_recovered(s.store);
    int fe = store_audit_file_error(s.store);
    if (n && audit_file_new)
      log_info("the audit file %s starts with the chain's %llu record(s) so far", o->audit_file,
               (unsigned long long)n);
    else if (n)
      log_warn("the audit file %s lacked %llu record(s) of the chain; appended them", o->audit_file,
               (unsigned long long)n);
    if (fe == -ESTALE)
      log_err("the audit file %s goes beyond the store's audit chain: it belongs to another store, "
              "or the store was restored from an older copy; check `secret audit --verify` "
              "against an exported head", o->audit_file);
    else if (fe < 0)
      log_err("cannot bring the audit file %s up to date: %s", o->audit_file, sd_strerror(fe));
  }
  if ((r = identity_open_or_migrate(s.store, &s.identity)) < 0) {
    store_close(s.store);
    return r;
  }
  if ((r = uv_loop_init(&loop)) < 0) {
    identity_free(s.identity);
    store_close(s.store);
    return log_errno(r, "uv_loop_init");
  }
  s.loop = &loop;
  if ((r = cq_new(&loop, s.store, 1024, &s.cq)) < 0)
    goto out_loop;
  if ((r = dispatch_tracker_new(&s.tracker)) < 0)
    goto out_cq;
  if ((r = listen_socket(&s, o)) < 0)
    goto out_cq;
  if (o->listen && (r = listen_start(&s, o->listen, &s.tls_listener)) < 0) {
    uv_close((uv_handle_t *)&s.listener, NULL);
    unlink(o->socket);
    goto out_cq;
  }
  if ((r = push_hook_install(&s)) < 0) /* assignment changes pushed to the nodes' sessions */
    goto out_cq;
  if ((r = manager_cert_watch_start(&s, o->mcert_check_ms, &s.mcert)) < 0)
    goto out_cq;
  uv_signal_init(&loop, &s.sig_term);
  uv_signal_init(&loop, &s.sig_int);
  s.sig_term.data = s.sig_int.data = &s;
  uv_signal_start(&s.sig_term, on_signal, SIGTERM);
  uv_signal_start(&s.sig_int, on_signal, SIGINT);
  uv_timer_t seal_timer;
  uv_timer_init(&loop, &seal_timer);
  seal_timer.data = s.store;
  uv_timer_start(&seal_timer, on_seal_keys, 1000, 1000);
  uv_unref((uv_handle_t *)&seal_timer);
  log_info("serving %s on %s (pid %d, at most %u connections)", o->dir, o->socket, (int)getpid(),
           s.max_conns);

  uv_run(&loop, UV_RUN_DEFAULT);

  struct cq_stats st;
  cq_get_stats(s.cq, &st);
  log_info("stopped: %llu write batches, %llu requests, largest batch %llu",
           (unsigned long long)st.batches, (unsigned long long)st.items,
           (unsigned long long)st.max_batch_seen);
  r = 0;
  if (unlink(o->socket) < 0 && errno != ENOENT)
    log_warn("cannot remove %s: %s", o->socket, strerror(errno));
out_cq:
  manager_cert_watch_stop(s.mcert);
  s.mcert = NULL;
  uv_walk(&loop, close_walk, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cq_free(s.cq);
  push_hook_free(&s);
  dispatch_tracker_free(s.tracker);
out_loop:
  uv_loop_close(&loop);
  listen_free(s.tls_listener);
  identity_free(s.identity);
  store_close(s.store);
  return r;
}

int verb_serve(int argc, char **argv) {
  struct serve_opts o;
  int r = parse_opts(argc, argv, &o);
  if (r == 1) {
    puts("Usage: secretd serve --data DIR [--admin-socket PATH] [--admin-group GROUP]\n"
         "       [--unlock-key-file PATH] [--audit-file PATH] [--map-size BYTES] [--keep-versions N]\n"
         "       [--listen HOST:PORT [--heartbeat-ms MS] [--heartbeat-missed N]]\n"
         "       [--manager-cert-check-ms MS]");
    return 0;
  }
  if (r < 0)
    return 2;
  return serve_run(&o) < 0 ? 1 : 0;
}
