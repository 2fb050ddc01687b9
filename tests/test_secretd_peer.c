/* secretd peer authorization over real Unix sockets (SO_PEERCRED and
 * SO_PEERGROUPS; no /proc fallback). */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "secretd/peer.h"

static int fds[2] = {-1, -1};

static int setup(void **state) {
  /* Supplementary groups as seen by a peer: set before the socket exists. */
  if (geteuid() == 0) {
    gid_t g[] = {4242, 4343};
    if (setgroups(2, g) < 0)
      return -1;
  }
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

static int teardown(void **state) {
  close(fds[0]);
  close(fds[1]);
  return 0;
}

static void test_peer_cred_reports_our_pid_uid_gid(void **state) {
  struct peer_cred c;
  assert_int_equal(peer_cred_get(fds[0], &c), 0);
  assert_int_equal(c.pid, getpid());
  assert_int_equal(c.uid, getuid());
  assert_int_equal(c.gid, getgid());
}

static void test_peer_cred_on_a_non_socket_fails(void **state) {
  struct peer_cred c;
  assert_int_equal(peer_cred_get(-1, &c), -EBADF);
}

static void test_root_is_always_allowed(void **state) {
  struct peer_cred c = {.pid = getpid(), .uid = 0, .gid = 12345};
  assert_int_equal(peer_authorized(fds[0], &c, false, 0), 1);
}

static void test_other_uid_without_group_is_denied(void **state) {
  struct peer_cred c = {.pid = getpid(), .uid = 54321, .gid = 54321};
  if (geteuid() == 54321)
    skip();
  assert_int_equal(peer_authorized(fds[0], &c, false, 0), 0);
  assert_int_equal(peer_authorized(fds[0], &c, true, 777), 0);
}

static void test_primary_gid_in_admin_group_is_allowed(void **state) {
  struct peer_cred c = {.pid = getpid(), .uid = 54321, .gid = 777};
  assert_int_equal(peer_authorized(fds[0], &c, true, 777), 1);
}

static void test_supplementary_group_from_socket_is_allowed(void **state) {
  if (geteuid() != 0)
    skip();
  struct peer_cred c = {.pid = getpid(), .uid = 54321, .gid = 54321};
  assert_int_equal(peer_authorized(fds[0], &c, true, 4343), 1);
  assert_int_equal(peer_authorized(fds[0], &c, true, 4444), 0);
}

/* No /proc fallback (issue 7 §7): when the socket cannot tell the peer's
 * groups, /proc/<pid>/status is not consulted (the pid may have been reused
 * by another process since connect): the answer is an error, never an allow,
 * even though our own pid's Groups: line holds the admin group. */
static void test_no_proc_fallback_when_the_socket_cannot_tell(void **state) {
  if (geteuid() != 0)
    skip();
  struct peer_cred c = {.pid = getpid(), .uid = 54321, .gid = 54321};
  assert_true(peer_authorized(-1, &c, true, 4242) < 0);
  int p[2];
  assert_int_equal(pipe(p), 0); /* not a socket: SO_PEERGROUPS fails */
  assert_true(peer_authorized(p[0], &c, true, 4242) < 0);
  close(p[0]);
  close(p[1]);
}

static void test_peer_with_300_groups_is_read_from_the_socket(void **state) {
  if (geteuid() != 0)
    skip();
  gid_t many[300], two[] = {4242, 4343};
  for (int i = 0; i < 300; i++)
    many[i] = (gid_t)(10000 + i);
  assert_int_equal(setgroups(300, many), 0);
  int sp[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  assert_int_equal(setgroups(2, two), 0);
  /* A pid that cannot exist: only the socket's own group list can answer. */
  struct peer_cred c = {.pid = 0x3fffffff, .uid = 54321, .gid = 54321};
  assert_int_equal(peer_authorized(sp[0], &c, true, 10299), 1);
  assert_int_equal(peer_authorized(sp[0], &c, true, 4242), 0);
  close(sp[0]);
  close(sp[1]);
}

static void test_vanished_peer_pid_is_an_error_not_an_allow(void **state) {
  struct peer_cred c = {.pid = 999999999, .uid = 54321, .gid = 54321};
  assert_true(peer_authorized(-1, &c, true, 4242) < 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_peer_cred_reports_our_pid_uid_gid),
      cmocka_unit_test(test_peer_cred_on_a_non_socket_fails),
      cmocka_unit_test(test_root_is_always_allowed),
      cmocka_unit_test(test_other_uid_without_group_is_denied),
      cmocka_unit_test(test_primary_gid_in_admin_group_is_allowed),
      cmocka_unit_test(test_supplementary_group_from_socket_is_allowed),
      cmocka_unit_test(test_no_proc_fallback_when_the_socket_cannot_tell),
      cmocka_unit_test(test_peer_with_300_groups_is_read_from_the_socket),
      cmocka_unit_test(test_vanished_peer_pid_is_an_error_not_an_allow),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
