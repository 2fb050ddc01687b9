/*
 * Test helper: append N audit records to an existing store in large
 * transactions, in-process (through secretd one request at a time this takes
 * minutes). Used by daemon_verify.sh to build a long chain for `secret audit
 * --verify` while other clients are served.
 *
 *   store_audit_fill DIR N    (unlock key from DIR/unlock.key, as secretd init wrote it)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parse.h"
#include "crypto/keys.h"
#include "store/internal.h" /* the chain's own append, in big raw txns */

#define PER_BATCH 100000u

int main(int argc, char **argv) {
  char path[4096], token[256];
  uint64_t n;
  if (argc != 3 || sd_parse_u64(argv[2], 100000000, &n) < 0) {
    fprintf(stderr, "usage: store_audit_fill DIR N\n");
    return 2;
  }
  snprintf(path, sizeof(path), "%s/unlock.key", argv[1]);
  FILE *f = fopen(path, "re");
  if (!f || !fgets(token, sizeof(token), f)) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  fclose(f);
  struct sd_key *key = NULL;
  struct store *s = NULL;
  int r = sd_key_from_token(token, &key);
  memset(token, 0, sizeof(token));
  if (r == 0)
    r = store_open(argv[1], key, NULL, &s);
  sd_key_free(key);
  for (uint64_t done = 0; r == 0 && done < n;) {
    MDB_txn *txn;
    struct audit_head head;
    struct store_audit_rec rec;
    if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, 0, &txn))) < 0)
      break;
    sd_key_acquire(s->audit_key);
    r = store_audit_head_load(txn, s->dbi[DBI_AUDIT], &head);
    for (unsigned i = 0; r == 0 && i < PER_BATCH && done < n; i++, done++) {
      r = store_audit_append(txn, s->dbi[DBI_AUDIT], s->audit_key, &head, "uid:0", "test.fill",
                             "chain filler", "ok", &rec);
      head.seq = rec.seq;
      memcpy(head.hash, rec.hash, 32);
    }
    sd_key_release(s->audit_key);
    if (r < 0)
      mdb_txn_abort(txn);
    else
      r = store_commit_err(s->env, mdb_txn_commit(txn));
  }
  store_close(s);
  if (r < 0) {
    fprintf(stderr, "store_audit_fill: %s\n", sd_strerror(r));
    return 1;
  }
  return 0;
}
