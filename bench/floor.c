/*
 * launch_floor ROOTFS: the cheapest possible "container" start, the floor that the
 * launcher is compared against. One clone() with the pid, mount, net, ipc and uts
 * namespaces; the child makes mounts private, mounts a tmpfs on ROOTFS/run, writes one
 * file into it, chroots into ROOTFS and execs /bin/true. No pivot_root, no /proc, no
 * capability drop, no seccomp, no cgroups. Exits with the child's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int child(const char *rootfs) {
  char run[PATH_MAX], file[PATH_MAX + 16];
  char *const argv[] = {"/bin/true", NULL};
  char *const envp[] = {"PATH=/bin", NULL};
  int fd;

  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return 10;
  snprintf(run, sizeof(run), "%s/run", rootfs);
  if (mount("tmpfs", run, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0)
    return 11;
  snprintf(file, sizeof(file), "%s/secret", run);
  fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
  if (fd < 0 || write(fd, "s3cr3t", 6) != 6 || close(fd) < 0)
    return 12;
  if (chroot(rootfs) < 0 || chdir("/") < 0)
    return 13;
  execve(argv[0], argv, envp);
  return 14;
}

int main(int argc, char **argv) {
  int status;
  pid_t pid;

  if (argc != 2) {
    fprintf(stderr, "usage: %s ROOTFS\n", argv[0]);
    return 2;
  }
  /* clone without a new stack behaves like fork (the child continues here). */
  pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
                                      CLONE_NEWUTS | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) {
    fprintf(stderr, "launch_floor: clone: %s\n", strerror(errno));
    return 1;
  }
  if (pid == 0)
    _exit(child(argv[1]));
  if (waitpid(pid, &status, 0) < 0)
    return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
