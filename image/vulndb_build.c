/* Collecting index records from any source: string interning, sorting,
 * duplicate checks and merging (see vulndb_internal.h, vulndb_tracker.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "image/vulndb_internal.h"

static uint32_t hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static int intern_grow(struct vt_intern *in) {
  size_t ns = in->nslots ? in->nslots * 2 : 4096;
  uint32_t *s = calloc(ns, sizeof *s);
  if (!s)
    return -ENOMEM;
  for (size_t i = 0; i < in->nslots; i++) {
    if (!in->slots[i])
      continue;
    const char *str = in->blob + in->slots[i] - 1;
    size_t j = hash(str, strlen(str)) & (ns - 1);
    while (s[j])
      j = (j + 1) & (ns - 1);
    s[j] = in->slots[i];
  }
  free(in->slots);
  in->slots = s;
  in->nslots = ns;
  return 0;
}

int vt_intern(struct vt_intern *in, const char *s, size_t n, uint32_t *ret_off) {
  if ((in->used + 1) * 2 > in->nslots && intern_grow(in) < 0)
    return -ENOMEM;
  size_t j = hash(s, n) & (in->nslots - 1);
  while (in->slots[j]) {
    const char *c = in->blob + in->slots[j] - 1;
    if (!strncmp(c, s, n) && c[n] == '\0') {
      *ret_off = in->slots[j] - 1;
      return 0;
    }
    j = (j + 1) & (in->nslots - 1);
  }
  if (in->len + n + 1 >= UINT32_MAX - 1)
    return -E2BIG;
  if (in->len + n + 1 > in->cap) {
    size_t nc = in->cap ? in->cap * 2 : 1 << 16;
    while (nc < in->len + n + 1)
      nc *= 2;
    char *b = realloc(in->blob, nc);
    if (!b)
      return -ENOMEM;
    in->blob = b;
    in->cap = nc;
  }
  memcpy(in->blob + in->len, s, n);
  in->blob[in->len + n] = '\0';
  in->slots[j] = (uint32_t)in->len + 1;
  in->used++;
  *ret_off = (uint32_t)in->len;
  in->len += n + 1;
  return 0;
}

int vt_builder_add(struct vt_builder *b, const struct vt_rec *r) {
  if (b->n >= VULNDB_MAX_RECORDS)
    return -E2BIG;
  if (b->n == b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 4096;
    struct vt_rec *nr = realloc(b->recs, nc * sizeof *nr);
    if (!nr)
      return -ENOMEM;
    b->recs = nr;
    b->cap = nc;
  }
  b->recs[b->n++] = *r;
  return 0;
}

static int intern_opt(struct vt_intern *in, const char *s, uint32_t *ret) {
  if (!s) {
    *ret = VT_NONE;
    return 0;
  }
  return vt_intern(in, s, strlen(s), ret);
}

int vt_builder_add_entry(struct vt_builder *b, const struct vulndb_entry *e) {
  struct vt_rec r = {.debianbug = e->debianbug,
                     .status = (uint8_t)e->status,
                     .urgency = (uint8_t)e->urgency,
                     .nodsa = (uint8_t)e->nodsa,
                     .origin = (uint8_t)e->origin};
  int k;
  if ((k = intern_opt(&b->in, e->release, &r.release)) < 0 ||
      (k = intern_opt(&b->in, e->source, &r.source)) < 0 ||
      (k = intern_opt(&b->in, e->issue, &r.issue)) < 0 ||
      (k = intern_opt(&b->in, e->fixed_version, &r.fixed)) < 0 ||
      (k = intern_opt(&b->in, e->introduced, &r.introduced)) < 0 ||
      (k = intern_opt(&b->in, e->aliases, &r.aliases)) < 0 ||
      (k = intern_opt(&b->in, e->affected, &r.affected)) < 0)
    return k;
  return vt_builder_add(b, &r);
}

void vt_builder_free(struct vt_builder *b) {
  free(b->in.blob);
  free(b->in.slots);
  free(b->recs);
  memset(b, 0, sizeof *b);
}

/* sort by (release, source, issue, origin) through ranks of the interned strings */

static int off_cmp(const void *a, const void *b, void *blob) {
  return strcmp((const char *)blob + *(const uint32_t *)a, (const char *)blob + *(const uint32_t *)b);
}

struct keyed {
  uint32_t k[4];
  uint32_t i;
};
static int keyed_cmp(const void *a, const void *b) {
  const struct keyed *x = a, *y = b;
  for (int j = 0; j < 4; j++)
    if (x->k[j] != y->k[j])
      return x->k[j] < y->k[j] ? -1 : 1;
  return 0;
}

/* Rank of the string at offset off among the sorted offsets. */
static uint32_t rank_of(const char *blob, const uint32_t *sorted, size_t n, uint32_t off) {
  size_t lo = 0, hi = n;
  const char *s = blob + off;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(blob + sorted[mid], s);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (uint32_t)lo;
}

int vt_builder_finish(struct vt_builder *b, struct vulndb_tracker **ret_t, struct img_err *err) {
  int r = 0;
  size_t nstr = b->in.used, k = 0;
  _cleanup_free_ uint32_t *offs = malloc((nstr ? nstr : 1) * sizeof *offs);
  _cleanup_free_ struct keyed *keys = malloc((b->n ? b->n : 1) * sizeof *keys);
  _cleanup_free_ struct vt_rec *out = malloc((b->n ? b->n : 1) * sizeof *out);
  if (!offs || !keys || !out) {
    r = img_fail(err, -ENOMEM, "out of memory");
    goto done;
  }
  if (b->n == 0) {
    r = img_fail(err, -EBADMSG, "no entries");
    goto done;
  }
  for (size_t i = 0; i < b->in.nslots; i++)
    if (b->in.slots[i])
      offs[k++] = b->in.slots[i] - 1;
  qsort_r(offs, k, sizeof *offs, off_cmp, b->in.blob);
  /* a rank per string; the records' offsets mostly repeat, so cache the last */
  uint32_t last_off[3] = {VT_NONE, VT_NONE, VT_NONE}, last_rank[3] = {0};
  for (size_t i = 0; i < b->n; i++) {
    uint32_t o[3] = {b->recs[i].release, b->recs[i].source, b->recs[i].issue};
    for (int j = 0; j < 3; j++) {
      if (o[j] != last_off[j]) {
        last_off[j] = o[j];
        last_rank[j] = rank_of(b->in.blob, offs, k, o[j]);
      }
      keys[i].k[j] = last_rank[j];
    }
    keys[i].k[3] = b->recs[i].origin;
    keys[i].i = (uint32_t)i;
  }
  qsort(keys, b->n, sizeof *keys, keyed_cmp);
  for (size_t i = 0; i < b->n; i++) {
    if (i && !keyed_cmp(&keys[i - 1], &keys[i])) {
      const struct vt_rec *d = &b->recs[keys[i].i];
      r = img_fail(err, -EBADMSG, "duplicate entry: %s %s %s", b->in.blob + d->source,
                   b->in.blob + d->issue, b->in.blob + d->release);
      goto done;
    }
    out[i] = b->recs[keys[i].i];
  }
  size_t per_origin[VULNDB_ORIGIN_COUNT] = {0};
  for (size_t i = 0; i < b->n; i++)
    per_origin[out[i].origin < VULNDB_ORIGIN_COUNT ? out[i].origin : 0]++;
  struct vulndb_tracker *t = calloc(1, sizeof *t);
  if (!t) {
    r = img_fail(err, -ENOMEM, "out of memory");
    goto done;
  }
  t->recs = TAKE_PTR(out);
  t->n = b->n;
  t->blob = TAKE_PTR(b->in.blob);
  t->blob_len = b->in.len;
  memcpy(t->per_origin, per_origin, sizeof per_origin);
  *ret_t = t;
done:
  vt_builder_free(b);
  return r;
}

int vulndb_merge(struct vulndb_tracker *const *parts, const unsigned *masks, size_t n,
                 struct vulndb_tracker **ret_t, struct img_err *err) {
  struct vt_builder b = {0};
  for (size_t p = 0; p < n; p++) {
    for (size_t i = 0; i < vulndb_tracker_count(parts[p]); i++) {
      struct vulndb_entry e;
      vulndb_tracker_get(parts[p], i, &e);
      if (!(masks[p] & (1u << e.origin)))
        continue;
      int r = vt_builder_add_entry(&b, &e);
      if (r < 0) {
        vt_builder_free(&b);
        return img_fail(err, r, "merging the index: %s", strerror(-r));
      }
    }
  }
  return vt_builder_finish(&b, ret_t, err);
}

int vulndb_tracker_has_origin(const struct vulndb_tracker *t, enum vulndb_origin origin) {
  return (unsigned)origin < VULNDB_ORIGIN_COUNT && t->per_origin[origin] > 0;
}

const char *vulndb_origin_name(enum vulndb_origin o) {
  return o == VULNDB_FROM_OSV ? "osv" : "debian-security-tracker";
}

int64_t vulndb_meta_data_time(const struct vulndb_meta *m) {
  int64_t t = 0;
  if (m->import_time)
    t = m->file_mtime;
  if (m->osv_import_time && (!t || m->osv_file_mtime < t))
    t = m->osv_file_mtime;
  return t;
}

int vt_read_stream(int fd, int (*feed)(void *ctx, const char *chunk, size_t n), void *ctx,
                   struct img_err *err) {
  enum { CHUNK = 1 << 16 };
  _cleanup_free_ char *buf = malloc(CHUNK);
  if (!buf)
    return img_fail(err, -ENOMEM, "out of memory");
  for (;;) {
    ssize_t n = read(fd, buf, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return img_fail(err, -errno, "read: %s", strerror(errno));
    if (n == 0)
      return 0;
    int r = feed(ctx, buf, (size_t)n);
    if (r < 0)
      return r;
  }
}
