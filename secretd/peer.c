/* SO_PEERCRED / SO_PEERGROUPS checks for the admin socket. */
#include "secretd/peer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/macro.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

int peer_cred_get(int fd, struct peer_cred *ret) {
  struct ucred uc;
  socklen_t len = sizeof(uc);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
    return -errno;
  if (len != sizeof(uc))
    return -EPROTO;
  ret->pid = uc.pid;
  ret->uid = uc.uid;
  ret->gid = uc.gid;
  return 0;
}

/* Supplementary groups as of connect(): 1 member, 0 not, -errno unsupported.
 * A peer in more groups than fit the stack buffer gets the size the kernel
 * asks for (ERANGE sets len), bounded by NGROUPS_MAX. */
static int groups_from_socket(int fd, gid_t want) {
  gid_t stack_groups[256], *groups = stack_groups;
  socklen_t len = sizeof(stack_groups);
  int r = 0;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
    if (errno != ERANGE || len == 0 || len > NGROUPS_MAX * sizeof(gid_t))
      return -errno;
    if (!(groups = malloc(len)))
      return -ENOMEM;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
      r = -errno;
      goto out;
    }
  }
  for (size_t i = 0; i < len / sizeof(gid_t); i++)
    if (groups[i] == want) {
      r = 1;
      break;
    }
out:
  if (groups != stack_groups)
    free(groups);
  return r;
}

/* Fallback: the Groups: line of /proc/<pid>/status. 1, 0 or -errno. */
static int groups_from_proc(pid_t pid, gid_t want) {
  char path[64], line[4096];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return -errno;
  int r = 0;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "Groups:", 7) != 0)
      continue;
    char *p = line + 7, *end;
    for (;;) {
      errno = 0;
      unsigned long g = strtoul(p, &end, 10);
      if (end == p || errno)
        break;
      if ((gid_t)g == want) {
        r = 1;
        break;
      }
      p = end;
    }
    break;
  }
  fclose(f);
  return r;
}

int peer_authorized(int fd, const struct peer_cred *cred, bool have_group, gid_t admin_gid) {
  if (cred->uid == 0 || cred->uid == geteuid())
    return 1;
  if (!have_group)
    return 0;
  if (cred->gid == admin_gid)
    return 1;
  int r = groups_from_socket(fd, admin_gid);
  if (r >= 0)
    return r;
  return groups_from_proc(cred->pid, admin_gid);
}
