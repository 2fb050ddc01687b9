/* The node's launch gate: content trust for placed services. See agent/launch_gate.h. */
#include "agent/launch_gate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "image/store.h"
#include "image/trust_check.h"
#include "image/trust_policy.h"
#include "runtime/launch_spec.h"

int agent_launch_gate(void *ud, const struct launch_spec *ls, char *why, size_t cap) {
  (void)ud;
  struct trust_policy *p = NULL;
  struct img_err err = {0};
  const char *named = getenv(TRUST_POLICY_ENV), *file = trust_policy_path(NULL);
  int r = trust_policy_load(file, &p, &err);
  if (r < 0) {
    snprintf(why, cap, "content trust: %s", err.msg);
    return -EPERM;
  }
  if (!trust_policy_exists(p) && named && *named) {
    snprintf(why, cap, "content trust: the policy %s (SECRET_TRUST_POLICY) does not exist", file);
    trust_policy_free(p);
    return -EPERM;
  }
  struct trust_decision d;
  trust_check_rootfs(p, getenv(TRUST_ENFORCE_ENV), img_store_path(NULL), ls->rootfs, &d);
  trust_policy_free(p);
  if (d.allowed)
    return 0;
  snprintf(why, cap, "content trust: --rootfs refused: %s", d.message);
  return -EPERM;
}
