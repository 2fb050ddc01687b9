/*
 * secret_put_bench STATE_ROOT NAME [N]: latency of replacing one 1 KiB secret in a
 * running detached container, as the node agent does it through the runtime library,
 * N times (default 1000), p50/p99/max in microseconds:
 *   held handle   the agent holds the secrets handle (rt_secrets_fs_put only)
 *   fresh handle  each put fetches the handle from the container's supervisor first
 *                 (connect + SCM_RIGHTS + rt_secrets_fs_from_fd + put)
 * The value is random benchmark data, not a secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "runtime/secrets_fs.h"
#include "runtime/state.h"
#include "runtime/supervisor.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *label, double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp);
  printf("%-34s p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%d puts)\n", label, t[n / 2],
         t[(int)(n * 0.99)], t[n - 1], n);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s STATE_ROOT NAME [N]\n", argv[0]);
    return 2;
  }
  int n = argc > 3 ? atoi(argv[3]) : 1000;
  if (n < 10 || n > 1000000)
    n = 1000;
  int root, dir, r;
  struct rt_state st;
  if ((r = rt_state_root_open(argv[1], &root)) < 0 || (r = rt_state_open(root, argv[2], &dir)) < 0 ||
      (r = rt_state_read(dir, &st)) < 0) {
    fprintf(stderr, "%s: container %s: %s\n", argv[0], argv[2], strerror(-r));
    return 1;
  }
  char value[1024];
  if (getrandom(value, sizeof value, 0) != sizeof value)
    return 1;
  double *t = calloc((size_t)n, sizeof *t);
  if (!t)
    return 1;

  int mfd;
  struct rt_secrets_fs *fs = NULL;
  if ((r = rt_supervisor_get_secrets(dir, st.supervisor, &mfd)) < 0 ||
      (r = rt_secrets_fs_from_fd(mfd, st.secrets_max, &fs)) < 0) {
    fprintf(stderr, "%s: secrets handle of %s: %s\n", argv[0], argv[2], strerror(-r));
    return 1;
  }
  for (int i = 0; i < n; i++) {
    value[0] = (char)i;
    double t0 = now_us();
    if ((r = rt_secrets_fs_put(fs, "bench/value", value, sizeof value, 0, 0, 0400)) < 0) {
      fprintf(stderr, "%s: put: %s\n", argv[0], strerror(-r));
      return 1;
    }
    t[i] = now_us() - t0;
  }
  rt_secrets_fs_free(fs);
  report("secret put, held handle", t, n);

  for (int i = 0; i < n; i++) {
    value[0] = (char)i;
    double t0 = now_us();
    if ((r = rt_supervisor_get_secrets(dir, st.supervisor, &mfd)) < 0 ||
        (r = rt_secrets_fs_from_fd(mfd, st.secrets_max, &fs)) < 0 ||
        (r = rt_secrets_fs_put(fs, "bench/value", value, sizeof value, 0, 0, 0400)) < 0) {
      fprintf(stderr, "%s: put: %s\n", argv[0], strerror(-r));
      return 1;
    }
    rt_secrets_fs_free(fs);
    t[i] = now_us() - t0;
  }
  report("secret put, fresh handle", t, n);
  free(t);
  return 0;
}
