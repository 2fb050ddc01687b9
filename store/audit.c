/* The audit chain: records in the audit DB keyed by seq (8 bytes BE),
 * h_n = keyed BLAKE2b(prev || msgpack [seq, time_ns, actor, action, object,
 * outcome]); listing, verification and the JSON-lines audit file. */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "base/audit_json.h"
#include "base/error.h"
#include "crypto/audit_mac.h"
#include "store/identity.h"
#include "store/internal.h"

void store_audit_render_actor(const struct store_actor *a, char out[80]) {
  if (!a)
    snprintf(out, 80, "unknown");
  else if (a->node)
    snprintf(out, 80, "node:%.70s", a->node);
  else
    snprintf(out, 80, "uid:%u", a->uid);
}

/* Stable outcome codes: what audit readers and alerts match on. Messages
 * may be reworded; codes never change meaning. Never errno text (which
 * depends on the C library and locale). */
static const struct {
  int err;
  const char *code, *msg;
} outcomes[] = {
    {-ENOENT, "not_found", "no such secret or grant"},
    {-EEXIST, "exists", "a secret with that name exists"},
    {SD_E_GRANTED, "granted", "the secret still has grants"},
    {SD_E_NAME, "bad_name", "invalid name"},
    {SD_E_VALUE, "bad_value", "invalid value size"},
    {SD_E_TARGET, "bad_target", "invalid grant target"},
    {SD_E_MODE, "bad_mode", "invalid file mode"},
    {-EINVAL, "bad_argument", "invalid argument"},
    {-E2BIG, "too_big", "argument too large"},
    {-ERANGE, "out_of_range", "argument out of range"},
    {-EOVERFLOW, "overflow", "version counter exhausted"},
    {SD_E_PROTO, "bad_request", "malformed or unknown request"},
    {SD_E_UNSUPPORTED, "unsupported", "operation not supported"},
    {SD_E_MAPFULL, "store_full", "the store's map is full"},
    {-ENOSPC, "disk_full", "no space left on the store's disk"},
    {-EBADMSG, "tampered", "a stored record failed authentication"},
    {SD_E_DECRYPT, "decrypt_failed", "a value failed to decrypt"},
    {SD_E_CHAIN, "chain_broken", "the audit chain does not verify"},
    {-EBUSY, "busy", "busy"},
    {-ENOMEM, "no_memory", "out of memory"},
    {-ECANCELED, "cancelled", "cancelled"},
    {-EIO, "io_error", "I/O error"},
};

const char *store_audit_outcome_text(int outcome, char buf[80]) {
  if (outcome >= 0)
    return "ok";
  if (outcome == SD_E_DENIED)
    return "denied";
  for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
    if (outcomes[i].err == outcome) {
      snprintf(buf, 80, "error:%s %s", outcomes[i].code, outcomes[i].msg);
      return buf;
    }
  const char *ic = store_identity_audit_code(outcome); /* store/identity.h */
  if (ic) {
    snprintf(buf, 80, "error:%s", ic);
    return buf;
  }
  snprintf(buf, 80, "error:other code %d", outcome);
  return buf;
}

static void copy_field(char *dst, size_t cap, const char *src, size_t n) {
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* The fields the chain hash covers, after an array header of n entries. */
static int pack_fields(msgpack_packer *pk, const struct store_audit_rec *r, size_t n) {
  int e = msgpack_pack_array(pk, n);
  e |= msgpack_pack_uint64(pk, r->seq);
  e |= msgpack_pack_uint64(pk, r->time_ns);
  e |= msgpack_pack_str_with_body(pk, r->actor, strlen(r->actor));
  e |= msgpack_pack_str_with_body(pk, r->action, strlen(r->action));
  e |= msgpack_pack_str_with_body(pk, r->object, strlen(r->object));
  e |= msgpack_pack_str_with_body(pk, r->outcome, strlen(r->outcome));
  return e;
}

int store_audit_encode_body(msgpack_sbuffer *sb, const struct store_audit_rec *r) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  return pack_fields(&pk, r, 6) == 0 ? 0 : -ENOMEM;
}

/* The stored record: the same fields, then prev and hash. */
static int audit_encode_full(msgpack_sbuffer *sb, const struct store_audit_rec *r) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int e = pack_fields(&pk, r, 8);
  e |= msgpack_pack_bin_with_body(&pk, r->prev, 32);
  e |= msgpack_pack_bin_with_body(&pk, r->hash, 32);
  return e == 0 ? 0 : -ENOMEM;
}

int store_audit_decode(const void *data, size_t len, struct store_audit_rec *out) {
  msgpack_unpacked u;
  msgpack_object *it;
  MDB_val v = {len, (void *)data};
  msgpack_unpacked_init(&u);
  int r = store_rec_unpack(&v, &u, &it, 8);
  if (r < 0)
    goto out;
  r = -EIO;
  if (it[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || it[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    goto out;
  for (int i = 2; i < 6; i++)
    if (it[i].type != MSGPACK_OBJECT_STR)
      goto out;
  if (it[6].type != MSGPACK_OBJECT_BIN || it[6].via.bin.size != 32 ||
      it[7].type != MSGPACK_OBJECT_BIN || it[7].via.bin.size != 32)
    goto out;
  if (it[2].via.str.size >= sizeof(out->actor) || it[3].via.str.size >= sizeof(out->action) ||
      it[4].via.str.size >= sizeof(out->object) || it[5].via.str.size >= sizeof(out->outcome))
    goto out;
  memset(out, 0, sizeof(*out));
  out->seq = it[0].via.u64;
  out->time_ns = it[1].via.u64;
  copy_field(out->actor, sizeof(out->actor), it[2].via.str.ptr, it[2].via.str.size);
  copy_field(out->action, sizeof(out->action), it[3].via.str.ptr, it[3].via.str.size);
  copy_field(out->object, sizeof(out->object), it[4].via.str.ptr, it[4].via.str.size);
  copy_field(out->outcome, sizeof(out->outcome), it[5].via.str.ptr, it[5].via.str.size);
  memcpy(out->prev, it[6].via.bin.ptr, 32);
  memcpy(out->hash, it[7].via.bin.ptr, 32);
  r = 0;
out:
  msgpack_unpacked_destroy(&u);
  return r;
}

int store_audit_head_load(MDB_txn *txn, MDB_dbi audit, struct audit_head *ret) {
  MDB_cursor *c;
  MDB_val k, v;
  struct store_audit_rec rec;
  int r = store_mdb_err(mdb_cursor_open(txn, audit, &c));
  if (r < 0)
    return r;
  r = store_mdb_err(mdb_cursor_get(c, &k, &v, MDB_LAST));
  mdb_cursor_close(c);
  if (r == -ENOENT) {
    memset(ret, 0, sizeof(*ret));
    return 0;
  }
  if (r < 0)
    return r;
  if ((r = store_audit_decode(v.mv_data, v.mv_size, &rec)) < 0)
    return r;
  ret->seq = rec.seq;
  memcpy(ret->hash, rec.hash, 32);
  return 0;
}

static int audit_mac_rec(const struct sd_key *key, const struct store_audit_rec *rec,
                         uint8_t out[32]) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  int r = store_audit_encode_body(&sb, rec);
  if (r == 0)
    r = sd_audit_mac(key, rec->prev, (const uint8_t *)sb.data, sb.size, out);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

int store_audit_append(MDB_txn *txn, MDB_dbi audit, const struct sd_key *key,
                 const struct audit_head *head, const char *actor, const char *action,
                 const char *object, const char *outcome, struct store_audit_rec *out) {
  struct store_audit_rec rec = {0};
  uint8_t kb[8];
  int r;
  rec.seq = head->seq + 1;
  rec.time_ns = store_now_ns();
  copy_field(rec.actor, sizeof(rec.actor), actor, strlen(actor));
  copy_field(rec.action, sizeof(rec.action), action, strlen(action));
  copy_field(rec.object, sizeof(rec.object), object ? object : "", object ? strlen(object) : 0);
  copy_field(rec.outcome, sizeof(rec.outcome), outcome, strlen(outcome));
  memcpy(rec.prev, head->hash, 32);
  if ((r = audit_mac_rec(key, &rec, rec.hash)) < 0)
    return r;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if ((r = audit_encode_full(&sb, &rec)) == 0) {
    store_be64_put(kb, rec.seq);
    MDB_val k = {8, kb}, v = {sb.size, sb.data};
    r = store_mdb_err(mdb_put(txn, audit, &k, &v, MDB_NOOVERWRITE | MDB_APPEND));
  }
  msgpack_sbuffer_destroy(&sb);
  if (r == 0)
    *out = rec;
  return r;
}

int store_audit_list(struct store *s, uint64_t after_seq, uint64_t since_ns, size_t limit,
                     struct store_audit_rec **ret, size_t *ret_n) {
  MDB_txn *txn;
  MDB_cursor *c = NULL;
  uint8_t kb[8];
  struct store_audit_rec *v = NULL;
  size_t n = 0, cap = 0;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  if ((r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_AUDIT], &c))) < 0)
    goto out;
  store_be64_put(kb, after_seq == UINT64_MAX ? after_seq : after_seq + 1);
  MDB_val k = {8, kb}, val;
  for (int rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
    if (limit && n >= limit)
      break;
    struct store_audit_rec rec;
    if ((r = store_audit_decode(val.mv_data, val.mv_size, &rec)) < 0)
      goto out;
    if (rec.seq <= after_seq || rec.time_ns < since_ns)
      continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      struct store_audit_rec *nv = realloc(v, ncap * sizeof(*v));
      if (!nv) {
        r = -ENOMEM;
        goto out;
      }
      v = nv;
      cap = ncap;
    }
    v[n++] = rec;
  }
  *ret = n ? TAKE_PTR(v) : NULL;
  *ret_n = n;
  r = 0;
out:
  free(v);
  if (c)
    mdb_cursor_close(c);
  mdb_txn_abort(txn);
  return r;
}

static void verdict_bad(struct store_audit_verdict *vd, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verdict_bad(struct store_audit_verdict *vd, uint64_t seq, const char *fmt, ...) {
  va_list ap;
  vd->ok = false;
  vd->first_bad_seq = seq;
  va_start(ap, fmt);
  vsnprintf(vd->reason, sizeof(vd->reason), fmt, ap);
  va_end(ap);
}

/* Walk the chain; stop at the first inconsistency. */
static int verify_walk(struct store *s, MDB_txn *txn, struct store_audit_verdict *vd) {
  MDB_cursor *c;
  MDB_val k, v;
  uint8_t want[32];
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_AUDIT], &c));
  if (r < 0)
    return r;
  uint64_t expect = 1;
  int rc;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    struct store_audit_rec rec;
    uint64_t key = k.mv_size == 8 ? store_be64_get(k.mv_data) : 0;
    if (key != expect) {
      if (key > expect)
        verdict_bad(vd, expect, "record %llu is missing (deleted)", (unsigned long long)expect);
      else
        verdict_bad(vd, expect, "record %llu has a malformed key", (unsigned long long)expect);
      break;
    }
    if (store_audit_decode(v.mv_data, v.mv_size, &rec) < 0) {
      verdict_bad(vd, key, "record %llu cannot be decoded (changed)", (unsigned long long)key);
      break;
    }
    if (rec.seq != key) {
      verdict_bad(vd, key, "record at position %llu carries seq %llu (reordered)",
                  (unsigned long long)key, (unsigned long long)rec.seq);
      break;
    }
    if (sodium_memcmp(rec.prev, vd->head_hash, 32) != 0) {
      verdict_bad(vd, key, "record %llu does not follow record %llu (removed or reordered)",
                  (unsigned long long)key, (unsigned long long)vd->head_seq);
      break;
    }
    audit_mac_rec(s->audit_key, &rec, want);
    if (sodium_memcmp(want, rec.hash, 32) != 0) {
      verdict_bad(vd, key, "record %llu was changed (hash mismatch)", (unsigned long long)key);
      break;
    }
    vd->head_seq = key;
    memcpy(vd->head_hash, rec.hash, 32);
    expect++;
  }
  mdb_cursor_close(c);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return store_mdb_err(rc);
  return 0;
}

int store_audit_verify(struct store *s, const uint64_t *expect_seq, const uint8_t *expect_hash,
                       struct store_audit_verdict *ret) {
  MDB_txn *txn;
  struct store_audit_verdict vd = {.ok = true};
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  sd_key_acquire(s->audit_key); /* once for the walk, not per record */
  r = verify_walk(s, txn, &vd);
  sd_key_release(s->audit_key);
  mdb_txn_abort(txn);
  if (r < 0)
    return r;
  if (vd.ok && expect_seq) {
    if (vd.head_seq < *expect_seq)
      verdict_bad(&vd, vd.head_seq + 1, "chain ends at %llu but the expected head is %llu "
                  "(records cut off the end)", (unsigned long long)vd.head_seq,
                  (unsigned long long)*expect_seq);
    else if (expect_hash) {
      /* The expected head must be part of the chain. */
      struct store_audit_rec *recs = NULL;
      size_t n = 0;
      if ((r = store_audit_list(s, *expect_seq - 1, 0, 1, &recs, &n)) < 0)
        return r;
      if (n != 1 || recs[0].seq != *expect_seq || sodium_memcmp(recs[0].hash, expect_hash, 32) != 0)
        verdict_bad(&vd, *expect_seq, "record %llu differs from the expected head",
                    (unsigned long long)*expect_seq);
      free(recs);
    }
  }
  *ret = vd;
  return 0;
}

/* Render recs as JSON lines and append them with one write + fdatasync.
 * Call with audit_file_mu held. */
static int file_write_recs(struct store *s, const struct store_audit_rec *recs, size_t n) {
  /* worst case per line: 300-byte object escaped as \u00XX plus the rest */
  size_t cap = n * 2600, used = 0;
  _cleanup_free_ char *buf = malloc(cap);
  if (!buf)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    char prev[65], hash[65];
    sd_hash_hex(recs[i].prev, prev);
    sd_hash_hex(recs[i].hash, hash);
    struct audit_fields f = {recs[i].seq, recs[i].time_ns, recs[i].actor, recs[i].action,
                             recs[i].object, recs[i].outcome, prev, hash};
    int len = audit_json_render(&f, buf + used, cap - used - 1);
    if (len < 0)
      return len;
    used += (size_t)len;
    buf[used++] = '\n';
  }
  int r = sd_write_all(s->audit_fd, buf, used);
  if (r == 0 && fdatasync(s->audit_fd) < 0)
    r = -errno;
  return r;
}

/* The seq of the file's last complete line (0: empty file). A partial last
 * line (a crash in the middle of a write) is cut off, but only once the line
 * before it parsed. -EBADMSG when the last line is not one of our records. */
int store_audit_file_last_seq(int fd, uint64_t *ret) {
  struct stat st;
  char buf[4096];
  if (fstat(fd, &st) < 0)
    return -errno;
  off_t end = st.st_size, keep = end;
  /* window: the last sizeof(buf)-1 bytes, then (after a partial tail) the
   * bytes before the cut */
  for (int pass = 0; pass < 2 && keep > 0; pass++) {
    size_t want = keep < (off_t)sizeof(buf) - 1 ? (size_t)keep : sizeof(buf) - 1;
    off_t start = keep - (off_t)want;
    ssize_t n = pread(fd, buf, want, start);
    if (n < 0)
      return -errno;
    if ((size_t)n != want)
      return -EIO;
    if (buf[n - 1] != '\n') { /* partial tail: the complete part ends at the last newline */
      char *nl = memrchr(buf, '\n', (size_t)n);
      if (!nl && start > 0)
        return -EBADMSG; /* a line longer than any record */
      keep = nl ? start + (nl - buf) + 1 : 0;
      continue;
    }
    buf[n - 1] = 0;
    char *line = memrchr(buf, '\n', (size_t)n - 1);
    line = line ? line + 1 : buf;
    if (!line[0] || (line == buf && start > 0))
      return -EBADMSG;
    char *p;
    if (strncmp(line, "{\"seq\":", 7) != 0 || line[7] < '0' || line[7] > '9')
      return -EBADMSG;
    errno = 0;
    unsigned long long v = strtoull(line + 7, &p, 10);
    if (errno || *p != ',')
      return -EBADMSG;
    if (keep < end && ftruncate(fd, keep) < 0)
      return -errno;
    *ret = v;
    return 0;
  }
  if (keep > 0)
    return -EBADMSG;
  if (end > 0 && ftruncate(fd, 0) < 0) /* nothing but one partial line */
    return -errno;
  *ret = 0;
  return 0;
}

/* Append every chain record the file lacks (seq > its last line's). Call
 * with audit_file_mu held. */
static int file_catch_up(struct store *s, uint64_t *ret_appended) {
  uint64_t last, head_seq = 0, added = 0;
  int r = store_audit_file_last_seq(s->audit_fd, &last);
  if (r < 0)
    return r;
  for (;;) {
    struct store_audit_rec *recs = NULL;
    size_t n = 0;
    if ((r = store_audit_list(s, last, 0, 4096, &recs, &n)) < 0)
      return r;
    if (n == 0)
      break;
    r = file_write_recs(s, recs, n);
    last = recs[n - 1].seq;
    free(recs);
    if (r < 0)
      return r;
    added += n;
  }
  /* A file ahead of the chain belongs to another store or the store was
   * rolled back to an older copy: say so, append nothing. */
  MDB_txn *txn;
  struct audit_head h;
  if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) < 0)
    return r;
  r = store_audit_head_load(txn, s->dbi[DBI_AUDIT], &h);
  mdb_txn_abort(txn);
  if (r < 0)
    return r;
  head_seq = h.seq;
  if (last > head_seq)
    return -ESTALE;
  if (ret_appended)
    *ret_appended = added;
  return 0;
}

int store_audit_file_sync(struct store *s, uint64_t *ret_appended) {
  if (ret_appended)
    *ret_appended = 0;
  if (s->audit_fd < 0)
    return 0;
  pthread_mutex_lock(&s->audit_file_mu);
  int r = file_catch_up(s, ret_appended);
  s->audit_file_behind = r < 0;
  pthread_mutex_unlock(&s->audit_file_mu);
  return r;
}

void store_audit_file_append(struct store *s, const struct store_audit_rec *recs, size_t n,
                             bool incomplete) {
  if (s->audit_fd < 0 || (n == 0 && !incomplete))
    return;
  pthread_mutex_lock(&s->audit_file_mu);
  /* After a failed append the file lacks lines: catch up from the chain
   * (which already holds recs) instead of leaving a gap. */
  int r = s->audit_file_behind || incomplete ? file_catch_up(s, NULL) : file_write_recs(s, recs, n);
  s->audit_file_behind = r < 0;
  if (r < 0)
    s->audit_file_err = r;
  pthread_mutex_unlock(&s->audit_file_mu);
}

int store_audit_file_error(struct store *s) {
  pthread_mutex_lock(&s->audit_file_mu);
  int r = s->audit_file_err;
  s->audit_file_err = 0;
  pthread_mutex_unlock(&s->audit_file_mu);
  return r;
}
