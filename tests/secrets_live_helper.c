/*
 * secrets_live_helper ROOTFS FILE_A FILE_B MD5_A MD5_B
 *
 * Test helper for tests/secrets_tmpfs.sh: starts a container (rt_container_start, the
 * library API the agent uses) whose /run/secrets/live starts as FILE_A, and while the
 * container runs replaces that file from outside with rt_secrets_fs_put, alternating
 * FILE_B and FILE_A. The container reads the file in a loop and checks that every read
 * is one complete version (its md5 is MD5_A or MD5_B); it prints "seen A B" counts.
 * Exits with the container's exit status (0: every read was whole); prints the number
 * of replacements on stderr. Bounded: the container makes 300 reads, the helper gives
 * up after 30 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "runtime/secrets_fs.h"

static const char script[] =
    "a=0; b=0; i=0\n"
    "while [ $i -lt 300 ]; do\n"
    "  i=$((i+1))\n"
    "  m=$(md5sum /run/secrets/live) || exit 3\n"
    "  case \"${m%% *}\" in\n"
    "    \"$1\") a=$((a+1));;\n"
    "    \"$2\") b=$((b+1));;\n"
    "    *) echo \"partial or unknown content at read $i: $m\"; exit 4;;\n"
    "  esac\n"
    "done\n"
    "echo \"seen $a $b\"\n";

static char *slurp(const char *path, size_t *ret_len) {
  struct stat st;
  char *buf;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) < 0)
    return NULL;
  buf = malloc((size_t)st.st_size + 1);
  if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size) {
    close(fd);
    free(buf);
    return NULL;
  }
  close(fd);
  *ret_len = (size_t)st.st_size;
  return buf;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  char *cargv[] = {"/bin/sh", "-c", (char *)script, "sh", NULL, NULL, NULL};
  struct rt_container *c = NULL;
  struct rt_secrets_fs *fs;
  struct rt_error err;
  struct rt_exit ex = {0};
  struct rt_secret sec;
  struct rt_spec spec;
  size_t len[2];
  char *data[2];
  long puts_done = 0;
  double deadline;
  int r;

  if (argc != 6) {
    fprintf(stderr, "usage: %s ROOTFS FILE_A FILE_B MD5_A MD5_B\n", argv[0]);
    return 2;
  }
  data[0] = slurp(argv[2], &len[0]);
  data[1] = slurp(argv[3], &len[1]);
  if (!data[0] || !data[1]) {
    fprintf(stderr, "helper: cannot read the version files\n");
    return 2;
  }
  cargv[4] = argv[4];
  cargv[5] = argv[5];

  memset(&spec, 0, sizeof(spec));
  memset(&err, 0, sizeof(err));
  sec = (struct rt_secret){.target = "live", .data = data[0], .len = len[0], .uid = 0,
                           .gid = 0, .mode = 0444};
  spec.rootfs = argv[1];
  spec.argv = cargv;
  spec.pdeathsig = true; /* the container dies with the helper, even if it crashes */
  spec.caps = rt_default_caps();
  spec.secrets = &sec;
  spec.n_secrets = 1;
  r = rt_container_start(&spec, &c, &err);
  if (r < 0) {
    fprintf(stderr, "helper: start: %s\n", err.msg);
    return 125;
  }
  fs = rt_container_secrets(c);
  deadline = now() + 30;
  while ((r = rt_container_wait(c, false, &ex)) == -EAGAIN && now() < deadline) {
    int v = (int)(++puts_done % 2);
    int q = rt_secrets_fs_put(fs, "live", data[v], len[v], 0, 0, 0444);
    if (q < 0) {
      fprintf(stderr, "helper: put: %s\n", strerror(-q));
      rt_container_free(c);
      return 1;
    }
    usleep(200);
  }
  if (r == -EAGAIN) {
    fprintf(stderr, "helper: container still running after 30 s\n");
    rt_container_free(c);
    return 1;
  }
  rt_container_free(c);
  fprintf(stderr, "replacements %ld\n", puts_done);
  free(data[0]);
  free(data[1]);
  return ex.signal ? 128 + ex.signal : ex.code;
}
