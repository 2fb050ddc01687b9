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

int peer_authorized(int fd, const struct peer_cred *cred, bool have_group, gid_t admin_gid) {
  if (cred->uid == 0 || cred->uid == geteuid())
    return 1;
  if (!have_group)
    return 0;
  if (cred->gid == admin_gid)
    return 1;
  /* Only the socket's own record of the groups at connect(): never
   * /proc/<pid>/status, which another process may own by now. */
  return groups_from_socket(fd, admin_gid);
}
