/*
 * Writes the seed corpora of fuzz_assign (an assignment set: two tasks, grants
 * pinned and following, unset owners) and fuzz_node_args (one request of each
 * worker op). Usage: gen_assign_corpus ASSIGN_DIR NODE_ARGS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/assign.h"
#include "wire/msg.h"
#include "wire/proto.h"

static void put(const char *dir, const char *name, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static void args_assign(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "generation", 3);
  wire_pack_kv_str(pk, "digest", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
}

static void args_deliver(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "service", "web");
  wire_pack_kv_str(pk, "task", "ffeeddccbbaa99887766554433221100");
  wire_pack_str(pk, "secrets");
  msgpack_pack_map(pk, 2);
  wire_pack_str(pk, "00112233445566778899aabbccddeeff");
  msgpack_pack_uint32(pk, 1);
  wire_pack_str(pk, "0123456789abcdef0123456789abcdef");
  msgpack_pack_uint32(pk, 7);
}

static void args_report(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 5);
  wire_pack_kv_str(pk, "service", "web");
  wire_pack_kv_str(pk, "task", "ffeeddccbbaa99887766554433221100");
  wire_pack_kv_str(pk, "state", "exited");
  wire_pack_kv_uint(pk, "exit_code", 137);
  wire_pack_kv_uint(pk, "restarts", 4);
}

static void frame(const char *dir, const char *name, enum wire_op op, wire_pack_fn fn) {
  struct wire_buf b = {0};
  int n = wire_request_encode(&b, 1, op, fn, NULL);
  if (n < 4)
    exit(1);
  put(dir, name, b.data + 4, (size_t)n - 4);
  wire_buf_release(&b);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ASSIGN_DIR NODE_ARGS_DIR\n", argv[0]);
    return 2;
  }
  uint8_t spec[] = {0x81, 0xa1, 'v', 0x01};
  struct wire_assign_grant g[2] = {
      {.secret_id = "00112233445566778899aabbccddeeff", .secret = "db", .target = "db",
       .uid_unset = true, .gid_unset = true, .mode = 0400, .version = 4},
      {.secret_id = "0123456789abcdef0123456789abcdef", .secret = "api", .target = "conf/api",
       .uid = 1000, .gid = 1000, .mode = 0440, .version = 2, .pinned = 2},
  };
  /* sorted by secret id */
  struct wire_assign_task t[2] = {
      {.id = "ffeeddccbbaa99887766554433221100", .service = "cron", .spec = spec,
       .spec_len = sizeof(spec), .restart = "no", .desired = "running", .state = "pending"},
      {.id = "aaeeddccbbaa99887766554433221100", .service = "web", .spec = spec,
       .spec_len = sizeof(spec), .restart = "always", .desired = "running", .state = "running",
       .grants = g, .n_grants = 2},
  };
  struct wire_assignments a = {.node = "n1", .generation = 3, .tasks = t, .n_tasks = 2};
  wire_assign_digest(&a, a.digest);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (wire_assignments_pack(&pk, &a) != 0)
    return 1;
  put(argv[1], "two_tasks", sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  a.n_tasks = 0;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  wire_assignments_pack(&pk, &a);
  put(argv[1], "empty", sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  frame(argv[2], "assignments", WIRE_OP_NODE_ASSIGNMENTS, args_assign);
  frame(argv[2], "deliver", WIRE_OP_NODE_DELIVER, args_deliver);
  frame(argv[2], "report", WIRE_OP_TASK_REPORT, args_report);
  return 0;
}
