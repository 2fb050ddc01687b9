/*
 * Admin-socket peer authorization by kernel credentials. A peer may use the
 * admin API if its uid is 0 (or secretd's own uid), or if the admin group's
 * gid is its primary gid or one of its supplementary groups.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct peer_cred {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

/* SO_PEERCRED of a connected Unix socket. 0 or -errno. */
int peer_cred_get(int fd, struct peer_cred *ret);

/*
 * Decide whether the peer on fd (credentials cred) may use the admin API.
 * Supplementary groups come from SO_PEERGROUPS (as of connect time) only;
 * there is no /proc/<pid>/status fallback (racy with pid reuse: the peer may
 * have exited and its pid been reused). With have_group false only
 * uid 0 and secretd's own uid are allowed. Returns 1 (allowed), 0 (denied)
 * or -errno when the groups cannot be read (treat as denied).
 */
int peer_authorized(int fd, const struct peer_cred *cred, bool have_group, gid_t admin_gid);
