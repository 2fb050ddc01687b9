/*
 * Which assignment set the agent holds (agent/delivery.c): sets come both in
 * the manager's "assign" pushes and in replies to node.assignments, and a
 * reply asked before a push may arrive after it. These decisions are pure so
 * that the ordering rules are tested on their own (tests/test_agent_set_order.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define AC_SET_DIGEST_LEN 32

enum ac_set_verdict {
  AC_SET_TAKE, /* apply it and hold its (generation, digest) */
  AC_SET_SKIP, /* keep what is held */
  AC_SET_ASK,  /* keep what is held and ask with node.assignments, which settles it */
};

/* The set held: have is false before the first one. */
struct ac_set_held {
  bool have;
  uint64_t generation;
  uint8_t digest[AC_SET_DIGEST_LEN];
};

/* A pushed set (generation, digest): TAKE when nothing is held or it is newer;
 * SKIP when it is the held one again (a push resent after a reconnection); ASK
 * when it is as old or older with another digest (the manager's generations went
 * back, e.g. its store was restored). */
enum ac_set_verdict ac_set_on_push(const struct ac_set_held *h, uint64_t generation,
                                   const uint8_t digest[AC_SET_DIGEST_LEN]);

/* A reply to node.assignments carrying a set: SKIP when a push brought a set
 * after the call was made (pushed_since) and the reply is not newer than what is
 * held (it was read before that push); TAKE otherwise (the manager's answer
 * settles any doubt, even a generation that went back). */
enum ac_set_verdict ac_set_on_reply(const struct ac_set_held *h, bool pushed_since,
                                    uint64_t generation);
