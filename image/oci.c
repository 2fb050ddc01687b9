/* json-c parsers for the OCI index, manifest and config (see oci.h). */
#include "image/oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/macro.h"

static void json_putp(json_object **p) {
  if (*p)
    json_object_put(*p);
}
#define _cleanup_json_ _cleanup_(json_putp)

/* Parse the whole buffer as one JSON object. */
static int parse_doc(const char *json, size_t len, json_object **ret) {
  if (len > IMG_MAX_JSON)
    return -EFBIG;
  if (len == 0)
    return -EINVAL;
  json_tokener *tok = json_tokener_new_ex(IMG_JSON_DEPTH);
  if (!tok)
    return -ENOMEM;
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  json_object *o = json_tokener_parse_ex(tok, json, (int)len);
  enum json_tokener_error e = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (!o || e != json_tokener_success) {
    json_object_put(o);
    return -EINVAL;
  }
  /* only whitespace may follow */
  for (; used < len; used++) {
    char c = json[used];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      json_object_put(o);
      return -EINVAL;
    }
  }
  if (!json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return -EINVAL;
  }
  *ret = o;
  return 0;
}

/* The string at key, or NULL when absent. -EINVAL when not a string or holding NUL. */
static int get_str(json_object *o, const char *key, const char **ret) {
  json_object *v;
  *ret = NULL;
  if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
    return 0;
  if (!json_object_is_type(v, json_type_string))
    return -EINVAL;
  const char *s = json_object_get_string(v);
  if ((size_t)json_object_get_string_len(v) != strlen(s))
    return -EINVAL;
  *ret = s;
  return 0;
}

static int dup_str(json_object *o, const char *key, char **ret) {
  const char *s;
  int r = get_str(o, key, &s);
  if (r < 0)
    return r;
  *ret = NULL;
  if (s && !(*ret = strdup(s)))
    return -ENOMEM;
  return 0;
}

static enum img_media media_of(const char *mt) {
  static const char *const layers[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar",
  };
  if (!mt)
    return IMG_MEDIA_OTHER;
  if (!strcmp(mt, "application/vnd.oci.image.index.v1+json") ||
      !strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json"))
    return IMG_MEDIA_INDEX;
  if (!strcmp(mt, "application/vnd.oci.image.manifest.v1+json") ||
      !strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json"))
    return IMG_MEDIA_MANIFEST;
  if (!strcmp(mt, "application/vnd.oci.image.config.v1+json") ||
      !strcmp(mt, "application/vnd.docker.container.image.v1+json"))
    return IMG_MEDIA_CONFIG;
  for (size_t i = 0; i < ARRAY_SIZE(layers); i++)
    if (!strcmp(mt, layers[i]))
      return IMG_MEDIA_LAYER;
  return IMG_MEDIA_OTHER;
}

static void desc_done(struct img_descriptor *d) {
  free(d->os);
  free(d->arch);
  free(d->ref_name);
  memset(d, 0, sizeof *d);
}

static int parse_desc(json_object *o, struct img_descriptor *d) {
  const char *mt, *dg;
  json_object *v;
  int r;
  memset(d, 0, sizeof *d);
  if (!json_object_is_type(o, json_type_object))
    return -EINVAL;
  if ((r = get_str(o, "mediaType", &mt)) < 0 || (r = get_str(o, "digest", &dg)) < 0)
    return r;
  if (!dg || img_digest_parse(dg, d->hex) < 0)
    return -EINVAL;
  d->media = media_of(mt);
  if (!json_object_object_get_ex(o, "size", &v) || !json_object_is_type(v, json_type_int))
    return -EINVAL;
  errno = 0;
  int64_t sz = json_object_get_int64(v);
  if (sz < 0 || errno)
    return -EINVAL;
  d->size = (uint64_t)sz;
  if (json_object_object_get_ex(o, "platform", &v) && !json_object_is_type(v, json_type_null)) {
    if (!json_object_is_type(v, json_type_object))
      return -EINVAL;
    if ((r = dup_str(v, "os", &d->os)) < 0 || (r = dup_str(v, "architecture", &d->arch)) < 0)
      goto fail;
  }
  if (json_object_object_get_ex(o, "annotations", &v) &&
      !json_object_is_type(v, json_type_null)) {
    if (!json_object_is_type(v, json_type_object)) {
      r = -EINVAL;
      goto fail;
    }
    if ((r = dup_str(v, "org.opencontainers.image.ref.name", &d->ref_name)) < 0)
      goto fail;
  }
  return 0;
fail:
  desc_done(d);
  return r;
}

static int parse_desc_array(json_object *root, const char *key, size_t max,
                            struct img_descriptor **ret, size_t *ret_n) {
  json_object *a;
  if (!json_object_object_get_ex(root, key, &a) || !json_object_is_type(a, json_type_array))
    return -EINVAL;
  size_t n = json_object_array_length(a);
  if (n > max)
    return -E2BIG;
  struct img_descriptor *d = calloc(n ? n : 1, sizeof *d);
  if (!d)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    int r = parse_desc(json_object_array_get_idx(a, i), &d[i]);
    if (r < 0) {
      for (size_t j = 0; j < i; j++)
        desc_done(&d[j]);
      free(d);
      return r;
    }
  }
  *ret = d;
  *ret_n = n;
  return 0;
}

static int check_schema(json_object *root) {
  json_object *v;
  if (json_object_object_get_ex(root, "schemaVersion", &v) &&
      (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 2))
    return -EINVAL;
  return 0;
}

int img_index_parse(const char *json, size_t len, struct img_index *ret) {
  _cleanup_json_ json_object *root = NULL;
  struct img_index x = {0};
  int r = parse_doc(json, len, &root);
  if (r < 0)
    return r;
  if ((r = check_schema(root)) < 0)
    return r;
  if ((r = parse_desc_array(root, "manifests", IMG_MAX_DESCRIPTORS, &x.manifests, &x.n)) < 0)
    return r;
  *ret = x;
  return 0;
}

void img_index_done(struct img_index *x) {
  if (!x)
    return;
  for (size_t i = 0; i < x->n; i++)
    desc_done(&x->manifests[i]);
  free(x->manifests);
  memset(x, 0, sizeof *x);
}

int img_index_pick(const struct img_index *x) {
  size_t candidates = 0;
  int only = -1;
  for (size_t i = 0; i < x->n; i++) {
    const struct img_descriptor *d = &x->manifests[i];
    if (d->media != IMG_MEDIA_MANIFEST && d->media != IMG_MEDIA_INDEX)
      continue;
    if (d->os && d->arch && !strcmp(d->os, "linux") && !strcmp(d->arch, "amd64"))
      return (int)i;
    if (!d->os && !d->arch) {
      candidates++;
      only = (int)i;
    }
  }
  return candidates == 1 ? only : -ENOENT;
}

int img_manifest_parse(const char *json, size_t len, struct img_manifest *ret) {
  _cleanup_json_ json_object *root = NULL;
  struct img_manifest m = {0};
  json_object *v;
  const char *mt;
  int r = parse_doc(json, len, &root);
  if (r < 0)
    return r;
  if ((r = check_schema(root)) < 0 || (r = get_str(root, "mediaType", &mt)) < 0)
    return r;
  if (mt && media_of(mt) != IMG_MEDIA_MANIFEST)
    return -EINVAL;
  if (!json_object_object_get_ex(root, "config", &v))
    return -EINVAL;
  if ((r = parse_desc(v, &m.config)) < 0)
    return r;
  if (m.config.media != IMG_MEDIA_CONFIG) {
    r = -EINVAL;
    goto fail;
  }
  if ((r = parse_desc_array(root, "layers", IMG_MAX_LAYERS, &m.layers, &m.n_layers)) < 0)
    goto fail;
  for (size_t i = 0; i < m.n_layers; i++)
    if (m.layers[i].media != IMG_MEDIA_LAYER) {
      r = -ENOTSUP;
      goto fail;
    }
  *ret = m;
  return 0;
fail:
  img_manifest_done(&m);
  return r;
}

void img_manifest_done(struct img_manifest *m) {
  if (!m)
    return;
  desc_done(&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    desc_done(&m->layers[i]);
  free(m->layers);
  memset(m, 0, sizeof *m);
}

static void strv_done(struct img_strv *s) {
  for (size_t i = 0; s->v && i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

static int parse_strv(json_object *o, const char *key, bool need_eq, struct img_strv *ret) {
  json_object *a;
  struct img_strv s = {0};
  if (!json_object_object_get_ex(o, key, &a) || json_object_is_type(a, json_type_null)) {
    *ret = s;
    return 0;
  }
  if (!json_object_is_type(a, json_type_array))
    return -EINVAL;
  size_t n = json_object_array_length(a);
  if (n > IMG_MAX_STRINGS)
    return -E2BIG;
  s.v = calloc(n + 1, sizeof *s.v);
  if (!s.v)
    return -ENOMEM;
  s.has = true;
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(a, i);
    if (!json_object_is_type(e, json_type_string))
      goto bad;
    const char *str = json_object_get_string(e);
    if ((size_t)json_object_get_string_len(e) != strlen(str))
      goto bad;
    if (need_eq && (!strchr(str, '=') || str[0] == '='))
      goto bad;
    if (!(s.v[i] = strdup(str))) {
      s.n = i;
      strv_done(&s);
      return -ENOMEM;
    }
    s.n = i + 1;
  }
  *ret = s;
  return 0;
bad:
  strv_done(&s);
  return -EINVAL;
}

int img_config_parse(const char *json, size_t len, struct img_config *ret) {
  _cleanup_json_ json_object *root = NULL;
  struct img_config c = {0};
  json_object *cfg;
  int r = parse_doc(json, len, &root);
  if (r < 0)
    return r;
  if ((r = dup_str(root, "os", &c.os)) < 0 || (r = dup_str(root, "architecture", &c.arch)) < 0)
    goto fail;
  if (json_object_object_get_ex(root, "config", &cfg) &&
      !json_object_is_type(cfg, json_type_null)) {
    if (!json_object_is_type(cfg, json_type_object)) {
      r = -EINVAL;
      goto fail;
    }
    if ((r = dup_str(cfg, "User", &c.user)) < 0 || (r = dup_str(cfg, "WorkingDir", &c.workdir)) < 0 ||
        (r = parse_strv(cfg, "Env", true, &c.env)) < 0 ||
        (r = parse_strv(cfg, "Entrypoint", false, &c.entrypoint)) < 0 ||
        (r = parse_strv(cfg, "Cmd", false, &c.cmd)) < 0)
      goto fail;
    if (c.user && !*c.user) {
      free(c.user);
      c.user = NULL;
    }
    if (c.workdir && !*c.workdir) {
      free(c.workdir);
      c.workdir = NULL;
    }
  }
  *ret = c;
  return 0;
fail:
  img_config_done(&c);
  return r;
}

void img_config_done(struct img_config *c) {
  if (!c)
    return;
  free(c->os);
  free(c->arch);
  free(c->user);
  free(c->workdir);
  strv_done(&c->env);
  strv_done(&c->entrypoint);
  strv_done(&c->cmd);
  memset(c, 0, sizeof *c);
}
