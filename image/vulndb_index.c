/* The tracker index file and lookups (see vulndb_tracker.h). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/vulndb_affected.h"
#include "image/vulndb_internal.h"

#define VT_MAGIC "SDVTIDX3" /* 2: OSV records and per-source meta; 3: OSV's affected spec */
#define VT_FORMAT 3u

struct vt_header { /* 104 bytes: the records that follow stay aligned */
  char magic[8];
  uint32_t format;
  uint32_t nrec;
  uint64_t blob_len;
  int64_t import_time;
  int64_t file_mtime;
  uint64_t file_size;
  int64_t osv_import_time;
  int64_t osv_file_mtime;
  uint64_t osv_file_size;
  uint8_t hash[32]; /* BLAKE2b-256 of the header (this field zero) and the body */
};

_Static_assert(sizeof(struct vt_header) % 8 == 0, "header keeps records aligned");

static void vt_hash(const struct vt_header *h, const void *recs, size_t recs_len,
                    const void *blob, size_t blob_len, uint8_t out[32]) {
  struct vt_header z = *h;
  crypto_generichash_state st;
  memset(z.hash, 0, sizeof z.hash);
  crypto_generichash_init(&st, NULL, 0, 32);
  crypto_generichash_update(&st, (const void *)&z, sizeof z);
  crypto_generichash_update(&st, recs, recs_len);
  crypto_generichash_update(&st, blob, blob_len);
  crypto_generichash_final(&st, out, 32);
}

int vt_rec_cmp(const struct vulndb_tracker *t, const struct vt_rec *a, const struct vt_rec *b) {
  int c = strcmp(t->blob + a->release, t->blob + b->release);
  if (!c)
    c = strcmp(t->blob + a->source, t->blob + b->source);
  if (!c)
    c = strcmp(t->blob + a->issue, t->blob + b->issue);
  if (!c)
    c = (int)a->origin - (int)b->origin;
  return c;
}

int vulndb_tracker_write_at(const struct vulndb_tracker *t, int dirfd, const char *name,
                            struct img_err *err) {
  char tmp[256];
  int r;
  if (snprintf(tmp, sizeof tmp, ".%s.%d.tmp", name, (int)getpid()) >= (int)sizeof tmp)
    return img_fail(err, -ENAMETOOLONG, "index name too long");
  struct vt_header h = {.format = VT_FORMAT,
                        .nrec = (uint32_t)t->n,
                        .blob_len = t->blob_len,
                        .import_time = t->meta.import_time,
                        .file_mtime = t->meta.file_mtime,
                        .file_size = t->meta.file_size,
                        .osv_import_time = t->meta.osv_import_time,
                        .osv_file_mtime = t->meta.osv_file_mtime,
                        .osv_file_size = t->meta.osv_file_size};
  memcpy(h.magic, VT_MAGIC, 8);
  vt_hash(&h, t->recs, t->n * sizeof *t->recs, t->blob, t->blob_len, h.hash);
  unlinkat(dirfd, tmp, 0);
  _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return img_fail(err, -errno, "create %s: %s", tmp, strerror(errno));
  if ((r = sd_write_all(fd, &h, sizeof h)) < 0 ||
      (r = sd_write_all(fd, t->recs, t->n * sizeof *t->recs)) < 0 ||
      (r = sd_write_all(fd, t->blob, t->blob_len)) < 0) {
    img_fail(err, r, "write %s: %s", tmp, strerror(-r));
    goto fail;
  }
  if (fsync(fd) < 0) {
    r = img_fail(err, -errno, "fsync %s: %s", tmp, strerror(errno));
    goto fail;
  }
  if (renameat(dirfd, tmp, dirfd, name) < 0) {
    r = img_fail(err, -errno, "rename to %s: %s", name, strerror(errno));
    goto fail;
  }
  fsync(dirfd);
  return 0;
fail:
  unlinkat(dirfd, tmp, 0);
  return r;
}

int vulndb_tracker_load_at(int dirfd, const char *name, struct vulndb_tracker **ret_t,
                           struct img_err *err) {
  _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return errno == ENOENT ? -ENOENT : img_fail(err, -errno, "%s: %s", name, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0)
    return img_fail(err, -errno, "%s: %s", name, strerror(errno));
  if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct vt_header) ||
      (uint64_t)st.st_size > sizeof(struct vt_header) + VULNDB_MAX_RECORDS * sizeof(struct vt_rec) +
                                 (uint64_t)UINT32_MAX)
    return img_fail(err, -EBADMSG, "%s: not an index file (size)", name);
  size_t size = (size_t)st.st_size;
  _cleanup_free_ char *file = malloc(size);
  if (!file)
    return img_fail(err, -ENOMEM, "out of memory");
  long got = sd_read_full(fd, file, size);
  if (got < 0)
    return img_fail(err, (int)got, "%s: %s", name, strerror((int)-got));
  if ((size_t)got < size)
    return img_fail(err, -EBADMSG, "%s: shrank while read", name);
  struct vt_header h;
  memcpy(&h, file, sizeof h);
  if (!memcmp(h.magic, "SDVTIDX1", 8) || !memcmp(h.magic, "SDVTIDX2", 8))
    return img_fail(err, -EBADMSG, "%s: an index of an older format: import the data again", name);
  if (memcmp(h.magic, VT_MAGIC, 8) || h.format != VT_FORMAT || h.nrec == 0 ||
      h.nrec > VULNDB_MAX_RECORDS || h.blob_len == 0 || h.blob_len > UINT32_MAX ||
      sizeof h + (uint64_t)h.nrec * sizeof(struct vt_rec) + h.blob_len != size)
    return img_fail(err, -EBADMSG, "%s: not an index file (header)", name);
  struct vt_rec *recs = (struct vt_rec *)(file + sizeof h); /* the header's size is a multiple of 4 */
  char *blob = file + sizeof h + (size_t)h.nrec * sizeof *recs;
  uint8_t want[32];
  vt_hash(&h, recs, (size_t)h.nrec * sizeof *recs, blob, h.blob_len, want);
  if (sodium_memcmp(want, h.hash, 32) != 0)
    return img_fail(err, -EBADMSG, "%s: hash mismatch (corrupt index)", name);
  if (blob[h.blob_len - 1] != '\0')
    return img_fail(err, -EBADMSG, "%s: strings not terminated", name);
  struct vulndb_tracker t = {.recs = recs, .n = h.nrec, .blob = blob, .blob_len = h.blob_len};
  for (size_t i = 0; i < t.n; i++) {
    const struct vt_rec *r = &recs[i];
    if (r->release >= h.blob_len || r->source >= h.blob_len || r->issue >= h.blob_len ||
        (r->fixed != VT_NONE && r->fixed >= h.blob_len) ||
        (r->introduced != VT_NONE && r->introduced >= h.blob_len) ||
        (r->aliases != VT_NONE && r->aliases >= h.blob_len) ||
        (r->affected != VT_NONE &&
         (r->affected >= h.blob_len || !vulndb_affected_valid(blob + r->affected))) ||
        r->origin >= VULNDB_ORIGIN_COUNT ||
        r->status > VULNDB_UNDETERMINED ||
        r->urgency >= VULNDB_URG_COUNT || r->nodsa >= VULNDB_NODSA_COUNT ||
        (r->status == VULNDB_RESOLVED && r->fixed == VT_NONE) ||
        (i && vt_rec_cmp(&t, &recs[i - 1], r) >= 0))
      return img_fail(err, -EBADMSG, "%s: record %zu is invalid or out of order", name, i);
    t.per_origin[r->origin]++;
  }
  struct vulndb_tracker *out = calloc(1, sizeof *out);
  if (!out)
    return img_fail(err, -ENOMEM, "out of memory");
  *out = t;
  out->meta = (struct vulndb_meta){h.import_time,     h.file_mtime,     h.file_size,
                                   h.osv_import_time, h.osv_file_mtime, h.osv_file_size};
  out->file = TAKE_PTR(file);
  *ret_t = out;
  return 0;
}

void vulndb_tracker_set_meta(struct vulndb_tracker *t, const struct vulndb_meta *meta) {
  t->meta = *meta;
}

void vulndb_tracker_get_meta(const struct vulndb_tracker *t, struct vulndb_meta *ret) {
  *ret = t->meta;
}

size_t vulndb_tracker_count(const struct vulndb_tracker *t) { return t->n; }

void vulndb_tracker_get(const struct vulndb_tracker *t, size_t i, struct vulndb_entry *ret) {
  const struct vt_rec *r = &t->recs[i];
  *ret = (struct vulndb_entry){
      .release = t->blob + r->release,
      .source = t->blob + r->source,
      .issue = t->blob + r->issue,
      .fixed_version = r->fixed == VT_NONE ? NULL : t->blob + r->fixed,
      .status = (enum vulndb_status)r->status,
      .urgency = (enum vulndb_urgency)r->urgency,
      .nodsa = (enum vulndb_nodsa)r->nodsa,
      .debianbug = r->debianbug,
      .origin = (enum vulndb_origin)r->origin,
      .introduced = r->introduced == VT_NONE ? NULL : t->blob + r->introduced,
      .aliases = r->aliases == VT_NONE ? NULL : t->blob + r->aliases,
      .affected = r->affected == VT_NONE ? NULL : t->blob + r->affected,
  };
}

/* First record whose (release, source) is >= the key. */
static size_t lower_bound(const struct vulndb_tracker *t, const char *release, const char *source) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct vt_rec *r = &t->recs[mid];
    int c = strcmp(t->blob + r->release, release);
    if (!c && source)
      c = strcmp(t->blob + r->source, source);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

size_t vulndb_tracker_find(const struct vulndb_tracker *t, const char *release,
                           const char *source, size_t *ret_first) {
  size_t i = lower_bound(t, release, source), j = i;
  while (j < t->n && !strcmp(t->blob + t->recs[j].release, release) &&
         !strcmp(t->blob + t->recs[j].source, source))
    j++;
  *ret_first = i;
  return j - i;
}

int vulndb_tracker_has_release(const struct vulndb_tracker *t, const char *release) {
  size_t i = lower_bound(t, release, NULL);
  return i < t->n && !strcmp(t->blob + t->recs[i].release, release);
}

void vulndb_tracker_free(struct vulndb_tracker *t) {
  if (!t)
    return;
  if (t->file) {
    free(t->file);
  } else {
    free(t->recs);
    free(t->blob);
  }
  free(t);
}
