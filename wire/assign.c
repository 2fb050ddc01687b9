/* A node's assignment set: encoding, digest and the strict decoder. See wire/assign.h. */
#include "wire/assign.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "wire/msg.h"
#include "wire/proto.h"

void wire_assignments_clear(struct wire_assignments *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->n_tasks; i++) {
    free(a->tasks[i].spec);
    free(a->tasks[i].grants);
  }
  free(a->tasks);
  memset(a, 0, sizeof(*a));
}

/* ---- encoding ---- */

static void pack_kv_u32_or_nil(msgpack_packer *pk, const char *key, bool unset, uint32_t v) {
  wire_pack_str(pk, key);
  if (unset)
    msgpack_pack_nil(pk);
  else
    msgpack_pack_uint32(pk, v);
}

static void pack_grant(msgpack_packer *pk, const struct wire_assign_grant *g) {
  msgpack_pack_map(pk, 8);
  wire_pack_kv_str(pk, "secret_id", g->secret_id);
  wire_pack_kv_str(pk, "secret", g->secret);
  wire_pack_kv_str(pk, "target", g->target);
  pack_kv_u32_or_nil(pk, "uid", g->uid_unset, g->uid);
  pack_kv_u32_or_nil(pk, "gid", g->gid_unset, g->gid);
  wire_pack_kv_uint(pk, "mode", g->mode);
  wire_pack_kv_uint(pk, "version", g->version);
  wire_pack_kv_uint(pk, "pinned", g->pinned);
}

static void pack_task(msgpack_packer *pk, const struct wire_assign_task *t, bool with_state) {
  msgpack_pack_map(pk, with_state ? 8 : 7);
  wire_pack_kv_str(pk, "id", t->id);
  wire_pack_kv_str(pk, "service", t->service);
  wire_pack_kv_uint(pk, "slot", t->slot);
  wire_pack_str(pk, "spec");
  msgpack_pack_bin_with_body(pk, t->spec, t->spec_len);
  wire_pack_kv_str(pk, "restart", t->restart);
  wire_pack_kv_str(pk, "desired", t->desired);
  if (with_state)
    wire_pack_kv_str(pk, "state", t->state);
  wire_pack_str(pk, "grants");
  msgpack_pack_array(pk, (uint32_t)t->n_grants);
  for (size_t i = 0; i < t->n_grants; i++)
    pack_grant(pk, &t->grants[i]);
}

static bool within_bounds(const struct wire_assignments *a) {
  if (a->n_tasks > WIRE_ASSIGN_TASKS_MAX)
    return false;
  for (size_t i = 0; i < a->n_tasks; i++)
    if (a->tasks[i].n_grants > WIRE_ASSIGN_GRANTS_MAX ||
        a->tasks[i].spec_len > WIRE_ASSIGN_SPEC_MAX)
      return false;
  return true;
}

static int pack_tasks(msgpack_packer *pk, const struct wire_assignments *a, bool with_state) {
  if (!within_bounds(a))
    return -EINVAL;
  msgpack_pack_array(pk, (uint32_t)a->n_tasks);
  for (size_t i = 0; i < a->n_tasks; i++)
    pack_task(pk, &a->tasks[i], with_state);
  return 0;
}

int wire_assign_pack_tasks(msgpack_packer *pk, const struct wire_assignments *a) {
  return pack_tasks(pk, a, true);
}

int wire_assign_digest(const struct wire_assignments *a, uint8_t out[WIRE_ASSIGN_DIGEST_LEN]) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int r = pack_tasks(&pk, a, false); /* the reported state is not something to act on */
  if (r == 0 && !sb.data)
    r = -ENOMEM;
  if (r == 0)
    crypto_generichash(out, WIRE_ASSIGN_DIGEST_LEN, (const uint8_t *)sb.data, sb.size, NULL, 0);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

int wire_assignments_pack(msgpack_packer *pk, const struct wire_assignments *a) {
  if (!within_bounds(a))
    return -EINVAL;
  msgpack_pack_map(pk, 4);
  wire_pack_kv_str(pk, "node", a->node);
  wire_pack_kv_uint(pk, "generation", a->generation);
  wire_pack_str(pk, "digest");
  msgpack_pack_bin_with_body(pk, a->digest, WIRE_ASSIGN_DIGEST_LEN);
  wire_pack_str(pk, "tasks");
  return wire_assign_pack_tasks(pk, a);
}

/* ---- decoding ---- */

#define FAIL(w)                                                                                    \
  do {                                                                                             \
    *why = (w);                                                                                    \
    return SD_E_PROTO;                                                                             \
  } while (0)

/* A map of at most WIRE_KEYS_MAX string keys of at most WIRE_KEY_MAX bytes, none twice. */
static bool map_ok(const msgpack_object *m) {
  if (m->type != MSGPACK_OBJECT_MAP || m->via.map.size > WIRE_KEYS_MAX)
    return false;
  const msgpack_object_kv *kv = m->via.map.ptr;
  for (uint32_t i = 0; i < m->via.map.size; i++)
    if (kv[i].key.type != MSGPACK_OBJECT_STR || kv[i].key.via.str.size > WIRE_KEY_MAX)
      return false;
  return !wire_map_has_duplicate_keys(m);
}

/* A required string of 1..max bytes (no NUL) into buf. */
static bool get_str(const msgpack_object *m, const char *key, char *buf, size_t max) {
  const msgpack_object *o = wire_map_get(m, key);
  if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size > max ||
      memchr(o->via.str.ptr, 0, o->via.str.size))
    return false;
  memcpy(buf, o->via.str.ptr, o->via.str.size);
  buf[o->via.str.size] = 0;
  return true;
}

static bool get_hex32(const msgpack_object *m, const char *key, char buf[33]) {
  if (!get_str(m, key, buf, 32) || strlen(buf) != 32)
    return false;
  for (int i = 0; i < 32; i++)
    if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
      return false;
  return true;
}

static bool get_u32(const msgpack_object *m, const char *key, uint32_t *ret) {
  const msgpack_object *o = wire_map_get(m, key);
  if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
    return false;
  *ret = (uint32_t)o->via.u64;
  return true;
}

static bool get_u32_or_nil(const msgpack_object *m, const char *key, uint32_t *ret, bool *unset) {
  const msgpack_object *o = wire_map_get(m, key);
  if (o && o->type == MSGPACK_OBJECT_NIL) {
    *unset = true;
    *ret = 0;
    return true;
  }
  *unset = false;
  return get_u32(m, key, ret) && *ret != UINT32_MAX;
}

static bool is_word(const char *s) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || *s == '_' || *s == '-'))
      return false;
  return true;
}

static int decode_grant(const msgpack_object *o, struct wire_assign_grant *g, const char **why) {
  if (!map_ok(o))
    FAIL("a grant is not a bounded map");
  if (!get_hex32(o, "secret_id", g->secret_id))
    FAIL("a grant's secret_id is not 32 hex digits");
  if (!get_str(o, "secret", g->secret, WIRE_ASSIGN_NAME_MAX))
    FAIL("a grant's secret name is missing or too long");
  if (!get_str(o, "target", g->target, WIRE_ASSIGN_TARGET_MAX))
    FAIL("a grant's target is missing or too long");
  if (!get_u32_or_nil(o, "uid", &g->uid, &g->uid_unset) ||
      !get_u32_or_nil(o, "gid", &g->gid, &g->gid_unset))
    FAIL("a grant's uid or gid is not an id below 2^32-1 or nil");
  if (!get_u32(o, "mode", &g->mode) || g->mode > 07777)
    FAIL("a grant's mode is missing or above 07777");
  if (!get_u32(o, "version", &g->version) || g->version == 0)
    FAIL("a grant's version is missing or 0");
  if (!get_u32(o, "pinned", &g->pinned) || (g->pinned && g->pinned != g->version))
    FAIL("a grant's pin is missing or differs from its version");
  return 0;
}

static int decode_task(const msgpack_object *o, struct wire_assign_task *t, const char **why) {
  const msgpack_object *spec, *grants;
  if (!map_ok(o))
    FAIL("a task is not a bounded map");
  if (!get_hex32(o, "id", t->id))
    FAIL("a task's id is not 32 hex digits");
  if (!get_str(o, "service", t->service, WIRE_ASSIGN_NAME_MAX))
    FAIL("a task's service is missing or too long");
  if (!get_u32(o, "slot", &t->slot))
    FAIL("a task's slot is missing");
  if (!get_str(o, "restart", t->restart, WIRE_ASSIGN_STATE_MAX) || !is_word(t->restart) ||
      !get_str(o, "desired", t->desired, WIRE_ASSIGN_STATE_MAX) || !is_word(t->desired) ||
      !get_str(o, "state", t->state, WIRE_ASSIGN_STATE_MAX) || !is_word(t->state))
    FAIL("a task's restart, desired or state is not a word of at most 15 letters");
  spec = wire_map_get(o, "spec");
  if (!spec || spec->type != MSGPACK_OBJECT_BIN || spec->via.bin.size == 0 ||
      spec->via.bin.size > WIRE_ASSIGN_SPEC_MAX)
    FAIL("a task's spec is not bin of 1 byte to 1 MiB");
  grants = wire_map_get(o, "grants");
  if (!grants || grants->type != MSGPACK_OBJECT_ARRAY ||
      grants->via.array.size > WIRE_ASSIGN_GRANTS_MAX)
    FAIL("a task's grants are not an array of at most 256");
  if (!(t->spec = malloc(spec->via.bin.size)))
    return -ENOMEM;
  memcpy(t->spec, spec->via.bin.ptr, spec->via.bin.size);
  t->spec_len = spec->via.bin.size;
  if (grants->via.array.size &&
      !(t->grants = calloc(grants->via.array.size, sizeof(*t->grants))))
    return -ENOMEM;
  for (uint32_t i = 0; i < grants->via.array.size; i++) {
    int r = decode_grant(&grants->via.array.ptr[i], &t->grants[i], why);
    if (r < 0)
      return r;
    t->n_grants++;
    if (i && strcmp(t->grants[i - 1].secret_id, t->grants[i].secret_id) >= 0)
      FAIL("a task's grants are not sorted by secret id, or one is there twice");
  }
  return 0;
}

static int decode(const msgpack_object *o, struct wire_assignments *a, const char **why) {
  const msgpack_object *v, *tasks;
  if (!map_ok(o))
    FAIL("the assignments are not a bounded map");
  if (!get_str(o, "node", a->node, WIRE_ASSIGN_NODE_MAX))
    FAIL("node is missing or too long");
  if (!(v = wire_map_get(o, "generation")) || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    FAIL("generation is not an unsigned integer");
  a->generation = v->via.u64;
  if (!(v = wire_map_get(o, "digest")) || v->type != MSGPACK_OBJECT_BIN ||
      v->via.bin.size != WIRE_ASSIGN_DIGEST_LEN)
    FAIL("digest is not 32 bytes of bin");
  memcpy(a->digest, v->via.bin.ptr, WIRE_ASSIGN_DIGEST_LEN);
  tasks = wire_map_get(o, "tasks");
  if (!tasks || tasks->type != MSGPACK_OBJECT_ARRAY ||
      tasks->via.array.size > WIRE_ASSIGN_TASKS_MAX)
    FAIL("tasks is not an array of at most 1024");
  if (tasks->via.array.size && !(a->tasks = calloc(tasks->via.array.size, sizeof(*a->tasks))))
    return -ENOMEM;
  for (uint32_t i = 0; i < tasks->via.array.size; i++) {
    /* counted before decoding so that clear() frees a half-decoded task too */
    a->n_tasks++;
    int r = decode_task(&tasks->via.array.ptr[i], &a->tasks[i], why);
    if (r < 0)
      return r;
    if (i && strcmp(a->tasks[i - 1].service, a->tasks[i].service) > 0)
      FAIL("tasks are not sorted by service");
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(a->tasks[j].id, a->tasks[i].id) == 0)
        FAIL("a task id is there twice");
  }
  return 0;
}

int wire_assignments_decode(const msgpack_object *o, struct wire_assignments *ret,
                            const char **why) {
  const char *w = NULL;
  if (!o || !ret || !why)
    return -EINVAL;
  memset(ret, 0, sizeof(*ret));
  int r = decode(o, ret, &w);
  if (r < 0) {
    wire_assignments_clear(ret);
    *why = w ? w : "out of memory";
  }
  return r;
}

int wire_assignments_decode_bytes(const uint8_t *p, size_t len, struct wire_assignments *ret,
                                  const char **why) {
  struct wire_value *v;
  if (!p || !ret || !why)
    return -EINVAL;
  memset(ret, 0, sizeof(*ret));
  int r = wire_value_decode(p, len, &v);
  if (r < 0) {
    *why = r == SD_E_PROTO ? wire_decode_reason() : "out of memory";
    return r;
  }
  r = wire_assignments_decode(wire_value_root(v), ret, why);
  wire_value_free(v);
  return r;
}
