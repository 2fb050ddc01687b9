/*
 * Writes the seed corpus of fuzz_wire (tests/fuzz/corpus/wire/): for every op
 * a valid request with all its args, responses, and broken variants
 * (truncated, bad lengths, deep nesting, wrong types). Each file is one
 * selector byte (0x80: feed at once; else chunk size) and a byte stream of
 * frames. Usage: gen_wire_corpus DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/proto.h"

static const char *dir;

static void put(const char *name, uint8_t sel, const uint8_t *p, size_t n) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputc(sel, f);
  fwrite(p, 1, n, f);
  fclose(f);
}

static enum wire_listing cur_listing = WIRE_LIST_SECRETS;

static void pack_valid(msgpack_packer *pk, enum wire_type t, const char *key) {
  if (!strcmp(key, "cursor")) { /* a real cursor: secrets after "db" */
    char c[WIRE_CURSOR_MAX + 1];
    wire_cursor_encode(cur_listing, "db", 2, c);
    wire_pack_str(pk, c);
    return;
  }
  switch (t) {
  case WIRE_T_STR: wire_pack_str(pk, key[0] == 't' ? "db/password" : "db_password"); break;
  case WIRE_T_BIN: msgpack_pack_bin(pk, 8); msgpack_pack_bin_body(pk, "s3cr3t!!", 8); break;
  case WIRE_T_UINT: msgpack_pack_uint64(pk, 0400); break;
  case WIRE_T_BOOL: msgpack_pack_true(pk); break;
  case WIRE_T_STRMAP: msgpack_pack_map(pk, 1); wire_pack_kv_str(pk, "env", "prod"); break;
  case WIRE_T_HEX32:
    wire_pack_str(pk, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    break;
  case WIRE_T_ID: wire_pack_str(pk, "00112233445566778899aabbccddeeff"); break;
  case WIRE_T_VERSIONS:
    msgpack_pack_map(pk, 2);
    wire_pack_str(pk, "00112233445566778899aabbccddeeff");
    msgpack_pack_uint64(pk, 3);
    wire_pack_str(pk, "ffeeddccbbaa99887766554433221100");
    msgpack_pack_uint64(pk, 1);
    break;
  }
}

static enum wire_op cur_op;
static int wrong = -1;

static void pack_args(msgpack_packer *pk, void *ud) {
  const struct wire_arg_spec *a = wire_op_args(cur_op);
  uint32_t n = 0;
  while (a[n].key)
    n++;
  msgpack_pack_map(pk, n);
  for (uint32_t i = 0; i < n; i++) {
    wire_pack_str(pk, a[i].key);
    if ((int)i == wrong)
      msgpack_pack_array(pk, 0);
    else
      pack_valid(pk, a[i].type, a[i].key);
  }
}

static void pack_ls(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_str(pk, "secrets");
  msgpack_pack_array(pk, 1);
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "id", "0123456789abcdef0123456789abcdef");
  wire_pack_kv_str(pk, "name", "db_password");
  wire_pack_kv_uint(pk, "latest", 2);
}

int main(int argc, char **argv) {
  struct wire_buf b = {0};
  char name[128];
  int n;
  if (argc != 2)
    return 2;
  dir = argv[1];
  for (int op = 0; op < WIRE_OP__COUNT; op++) {
    cur_op = op;
    cur_listing = op == WIRE_OP_AUDIT_LS   ? WIRE_LIST_AUDIT
                  : op == WIRE_OP_GRANT_LS ? WIRE_LIST_GRANTS
                                           : WIRE_LIST_SECRETS;
    wrong = -1;
    n = wire_request_encode(&b, (uint64_t)op + 1, op, pack_args, NULL);
    snprintf(name, sizeof(name), "req_%s", wire_op_name(op));
    put(name, 0x80, b.data, (size_t)n);
    snprintf(name, sizeof(name), "req_%s_split3", wire_op_name(op));
    put(name, 3, b.data, (size_t)n);
    snprintf(name, sizeof(name), "req_%s_truncated", wire_op_name(op));
    put(name, 0x80, b.data, (size_t)n - 2);
    if (wire_op_args(op)[0].key) {
      wrong = 0;
      wire_buf_release(&b);
      n = wire_request_encode(&b, 9, op, pack_args, NULL);
      snprintf(name, sizeof(name), "req_%s_wrongtype", wire_op_name(op));
      put(name, 0x80, b.data, (size_t)n);
    }
    wire_buf_release(&b);
  }
  /* two requests back to back */
  {
    struct wire_buf b2 = {0};
    cur_op = WIRE_OP_PING;
    wrong = -1;
    int n1 = wire_request_encode(&b, 1, WIRE_OP_PING, NULL, NULL);
    int n2 = wire_request_encode(&b2, 2, WIRE_OP_SECRET_LS, NULL, NULL);
    uint8_t *both = malloc((size_t)n1 + (size_t)n2);
    memcpy(both, b.data, (size_t)n1);
    memcpy(both + n1, b2.data, (size_t)n2);
    put("req_pipelined", 5, both, (size_t)n1 + (size_t)n2);
    free(both);
    wire_buf_release(&b);
    wire_buf_release(&b2);
  }
  /* Field evolution: ignored args and top-level keys (a nested value too),
   * an op from a newer peer, and hostile cursors. */
  {
    static const char *const cursors[] = {"0101", "010164", "0103000000000000000700", "zz",
                                          "0101FF", "02016161"};
    for (size_t i = 0; i < sizeof(cursors) / sizeof(*cursors) + 2; i++) {
      msgpack_packer pk;
      wire_buf_init(&b, &pk);
      msgpack_pack_map(&pk, 5);
      wire_pack_kv_uint(&pk, "v", 1);
      wire_pack_kv_uint(&pk, "id", 11);
      wire_pack_kv_str(&pk, "op", i == 0 ? "node.ls" : "secret.ls");
      wire_pack_str(&pk, "trace");
      msgpack_pack_array(&pk, 2);
      msgpack_pack_map(&pk, 1);
      wire_pack_kv_str(&pk, "span", "x");
      msgpack_pack_nil(&pk);
      wire_pack_str(&pk, "args");
      msgpack_pack_map(&pk, 3);
      wire_pack_kv_uint(&pk, "limit", 7);
      wire_pack_kv_str(&pk, "filter", "label:team=db");
      wire_pack_kv_str(&pk, "cursor", i < 2 ? "010164" : cursors[i - 2]);
      n = wire_buf_finish(&b);
      snprintf(name, sizeof(name), "req_evolve_%zu", i);
      put(name, 0x80, b.data, (size_t)n);
      wire_buf_release(&b);
    }
  }
  n = wire_response_encode_ok(&b, 3, pack_ls, NULL);
  put("resp_ok_ls", 0x80, b.data, (size_t)n);
  wire_buf_release(&b);
  n = wire_response_encode_error(&b, 4, -2, "no such secret");
  put("resp_error", 0x80, b.data, (size_t)n);
  wire_buf_release(&b);
  static const uint8_t len_ff[] = {0xff, 0xff, 0xff, 0xff, 0x80};
  static const uint8_t len_0[] = {0, 0, 0, 0};
  static const uint8_t len_over[] = {0x00, 0x11, 0x00, 0x01, 0x80};
  put("frame_len_ffffffff", 0x80, len_ff, sizeof(len_ff));
  put("frame_len_zero", 0x80, len_0, sizeof(len_0));
  put("frame_len_over_max", 0x80, len_over, sizeof(len_over));
  uint8_t deep[4 + 40];
  deep[0] = deep[1] = deep[2] = 0;
  deep[3] = 40;
  memset(deep + 4, 0x91, 39);
  deep[43] = 0x01;
  put("deep_nesting", 0x80, deep, sizeof(deep));
  static const uint8_t lie[] = {0, 0, 0, 6, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
  put("array_length_lie", 0x80, lie, sizeof(lie));
  static const uint8_t trailing[] = {0, 0, 0, 3, 0x80, 0x01, 0x02};
  put("trailing_bytes", 0x80, trailing, sizeof(trailing));
  /* Lying 32-bit lengths: a str32/bin32/array32/map32 that declares far
   * more than the frame holds, alone and inside an otherwise valid request. */
  {
    static const uint8_t types[] = {0xdb, 0xc6, 0xdd, 0xdf};
    static const char *names[] = {"str32", "bin32", "array32", "map32"};
    static const uint32_t lies[] = {0xffffffffu, 0x7fffffffu, 0x00010000u, 5u};
    for (size_t t = 0; t < 4; t++)
      for (size_t l = 0; l < 4; l++) {
        uint8_t f[4 + 5 + 3];
        wire_frame_header(5 + 3, f);
        f[4] = types[t];
        f[5] = (uint8_t)(lies[l] >> 24);
        f[6] = (uint8_t)(lies[l] >> 16);
        f[7] = (uint8_t)(lies[l] >> 8);
        f[8] = (uint8_t)lies[l];
        f[9] = 0xa1, f[10] = 'k', f[11] = 0x01;
        snprintf(name, sizeof(name), "lie_%s_%08x", names[t], lies[l]);
        put(name, 0x80, f, sizeof(f));
      }
    /* {"v":1,"id":7,"op":<lie>,"args":{}} and {"v":1,"id":7,"op":"secret.create",
     * "args":{"name":"a","value":<bin32 lie>}} and args holding an array32 lie */
    for (int which = 0; which < 3; which++) {
      uint8_t f[256];
      size_t o = 4;
      f[o++] = 0x84;
      f[o++] = 0xa1, f[o++] = 'v', f[o++] = 0x01;
      f[o++] = 0xa2, f[o++] = 'i', f[o++] = 'd', f[o++] = 0x07;
      f[o++] = 0xa2, f[o++] = 'o', f[o++] = 'p';
      if (which == 0) {
        static const uint8_t lie[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'p', 'i', 'n', 'g'};
        memcpy(f + o, lie, sizeof(lie));
        o += sizeof(lie);
        f[o++] = 0xa4, memcpy(f + o, "args", 4), o += 4, f[o++] = 0x80;
      } else {
        f[o++] = 0xad, memcpy(f + o, "secret.create", 13), o += 13;
        f[o++] = 0xa4, memcpy(f + o, "args", 4), o += 4;
        f[o++] = 0x82;
        f[o++] = 0xa4, memcpy(f + o, "name", 4), o += 4, f[o++] = 0xa1, f[o++] = 'a';
        f[o++] = 0xa5, memcpy(f + o, "value", 5), o += 5;
        static const uint8_t bin_lie[] = {0xc6, 0x00, 0x10, 0x00, 0x00, 's', '3'};
        static const uint8_t arr_lie[] = {0xdd, 0xff, 0xff, 0xff, 0xfe, 0x01, 0x02};
        memcpy(f + o, which == 1 ? bin_lie : arr_lie, 7);
        o += 7;
      }
      wire_frame_header((uint32_t)(o - 4), f);
      static const char *req_names[] = {"req_lie_str32_op", "req_lie_bin32_value",
                                        "req_lie_array32_value"};
      put(req_names[which], 0x80, f, o);
    }
  }
  /* Nesting far past WIRE_MAX_DEPTH (16) and past the old seeds' 40: arrays,
   * maps, array32s and a mix, 100 to 3000 levels. */
  {
    static const size_t depths[] = {WIRE_MAX_DEPTH, WIRE_MAX_DEPTH + 1, 100, 1000, 3000};
    static uint8_t f[4 + 5 * 3000 + 1];
    for (size_t d = 0; d < sizeof(depths) / sizeof(*depths); d++) {
      for (int kind = 0; kind < 4; kind++) {
        size_t o = 4;
        for (size_t i = 0; i < depths[d]; i++) {
          int k = kind == 3 ? (int)(i % 3) : kind;
          if (k == 0) {
            f[o++] = 0x91; /* fixarray of 1 */
          } else if (k == 1) {
            f[o++] = 0x81, f[o++] = 0xa1, f[o++] = 'k'; /* fixmap {"k": ...} */
          } else {
            f[o++] = 0xdd, f[o++] = 0, f[o++] = 0, f[o++] = 0, f[o++] = 1; /* array32 of 1 */
          }
        }
        f[o++] = 0xc0;
        wire_frame_header((uint32_t)(o - 4), f);
        static const char *kinds[] = {"array", "map", "array32", "mixed"};
        snprintf(name, sizeof(name), "deep_%s_%zu", kinds[kind], depths[d]);
        put(name, 0x80, f, o);
      }
    }
  }
  /* Budgeted reader (selector 0x40): a frame larger than the 4 KiB budget,
   * and a small frame that fits. */
  {
    static uint8_t f[4 + 6000];
    wire_frame_header(6000, f);
    memset(f + 4, 0xc0, 6000);
    put("budget_frame_over_cap", 0x40 | 0x3f, f, sizeof(f));
    n = wire_request_encode(&b, 5, WIRE_OP_PING, NULL, NULL);
    put("budget_small_frames", 0x40 | 7, b.data, (size_t)n);
    wire_buf_release(&b);
  }
  return 0;
}
