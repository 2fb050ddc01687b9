/* Minimal init for --init. See runtime/init.h. */
#include "runtime/init.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_code(int st) {
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

_Noreturn void rt_init_run(const char *path, char *const argv[], char *const envp[], int err_fd) {
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &all, NULL);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* init never execs, so close-on-exec does not help here: close every launcher fd
   * (cgroup, secrets handle, ...) but stdio and the error pipe right now. */
  if (err_fd > 3)
    close_range(3, (unsigned)err_fd - 1, 0);
  close_range((unsigned)err_fd + 1, ~0U, 0);

  pid_t child = fork();
  if (child < 0) {
    int e = errno;
    if (write(err_fd, &e, sizeof e) < 0) {
      /* nothing more to report */
    }
    _exit(125);
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
    int e = errno;
    if (write(err_fd, &e, sizeof e) < 0) {
      /* the parent will see the exit status */
    }
    _exit(e == ENOENT ? 127 : 126);
  }
  close(err_fd);

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0)
      continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG);
      if (p <= 0)
        break;
      if (p == child)
        _exit(status_code(st));
    }
  }
}
