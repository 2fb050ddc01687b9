/*
 * Parsers for the three OCI JSON documents an import reads: the image index
 * (index.json and nested indexes), the image manifest and the image config.
 * Hostile input: every document is capped at IMG_MAX_JSON bytes, nesting at
 * IMG_JSON_DEPTH, arrays at the limits below; strings with NUL bytes, unknown
 * digest algorithms and unknown layer media types are refused. json-c parses.
 * Docker's v2 schema 2 media types are accepted beside OCI's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"

#define IMG_MAX_JSON (4u << 20)  /* bytes per JSON document */
#define IMG_JSON_DEPTH 32
#define IMG_MAX_DESCRIPTORS 1024 /* manifests in an index */
#define IMG_MAX_LAYERS 256
#define IMG_MAX_STRINGS 4096     /* Env, Entrypoint, Cmd entries */

enum img_media {
  IMG_MEDIA_OTHER = 0,
  IMG_MEDIA_INDEX,    /* OCI image index or Docker manifest list */
  IMG_MEDIA_MANIFEST, /* OCI image manifest or Docker v2s2 manifest */
  IMG_MEDIA_CONFIG,
  IMG_MEDIA_LAYER,    /* tar, tar+gzip or tar+zstd (decompression sniffed) */
};

struct img_descriptor {
  enum img_media media;
  char hex[IMG_HEX_LEN + 1]; /* sha256 digest */
  uint64_t size;
  char *os, *arch;  /* platform, NULL when absent */
  char *ref_name;   /* org.opencontainers.image.ref.name, NULL when absent */
};

struct img_index {
  struct img_descriptor *manifests;
  size_t n;
};

struct img_manifest {
  struct img_descriptor config;
  struct img_descriptor *layers;
  size_t n_layers;
};

/* NULL-terminated string vector; has = the key was present in the config. */
struct img_strv {
  char **v;
  size_t n;
  bool has;
};

struct img_config {
  char *os, *arch;
  char *user, *workdir; /* NULL when absent or empty */
  struct img_strv env, entrypoint, cmd;
};

/* Parse an index from json[0..len). On success *ret is filled (free with
 * img_index_done). Returns 0, -EFBIG (over IMG_MAX_JSON), -E2BIG (too many
 * entries), -EINVAL (not JSON, wrong shape, bad digest), -ENOMEM. */
int img_index_parse(const char *json, size_t len, struct img_index *ret);
void img_index_done(struct img_index *x);

/* Parse a manifest; errors as img_index_parse, and -ENOTSUP for a layer media
 * type we cannot unpack (foreign or encrypted layers). */
int img_manifest_parse(const char *json, size_t len, struct img_manifest *ret);
void img_manifest_done(struct img_manifest *m);

/* Parse a config; errors as img_index_parse. Env entries must hold '='. */
int img_config_parse(const char *json, size_t len, struct img_config *ret);
void img_config_done(struct img_config *c);

/* Choose the manifest for linux/amd64: the only manifest if there is one
 * without a platform, else the first whose platform is linux/amd64. Returns its
 * index or -ENOENT. */
int img_index_pick(const struct img_index *x);
