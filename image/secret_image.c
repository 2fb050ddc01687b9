/*
 * secret-image: the local image tool (see secret-image(1)).
 *   secret-image [--store DIR] import PATH [--name NAME[:VERSION]]
 *                [--max-size SIZE] [--max-entries N]
 *   secret-image [--store DIR] ls [--json] | inspect REF | rm REF | gc [--json]
 *   secret-image [--store DIR] verify REF [--deep]
 *   secret-image [--store DIR] scan ... | db ...   (secret_image_scan.c)
 *   secret-image [--store DIR] [--policy FILE] key | sign | policy ...
 *                                                  (secret_image_trust.c)
 * REF is NAME[:VERSION], NAME@sha256:HEX or sha256:HEX. Exit 0 on success, 1
 * with one line on stderr otherwise (verify: 1 and one line per changed path).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "base/macro.h"
#include "image/record.h"
#include "image/store.h"

static const char *prog = "secret-image";

struct opts {
  const char *store, *name, *policy;
  bool json, deep;
  struct img_limits limits;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

static void usage(FILE *f) {
  fprintf(f, "usage: %s [--store DIR] import PATH [--name NAME[:VERSION]] [--max-size SIZE]\n"
             "                          [--max-entries N]\n"
             "       %s [--store DIR] ls [--json] | inspect REF | rm REF | gc [--json]\n"
             "       %s [--store DIR] verify REF [--deep]\n"
             "       %s [--store DIR] [--policy FILE] key generate | sign | policy ...  (secret-image(1))\n"
             "REF: NAME[:VERSION] | NAME@sha256:HEX | sha256:HEX. Store: --store, $%s, or %s.\n",
          prog, prog, prog, prog, IMG_STORE_ENV, IMG_DEFAULT_STORE);
}

static int parse_size(const char *s, uint64_t *ret) {
  char *end;
  if (!isdigit((unsigned char)*s))
    return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  unsigned shift = 0;
  switch (tolower((unsigned char)*end)) {
  case '\0': break;
  case 'k': shift = 10; end++; break;
  case 'm': shift = 20; end++; break;
  case 'g': shift = 30; end++; break;
  default: return -EINVAL;
  }
  if (errno || *end || v == 0 || v > (UINT64_MAX >> shift))
    return -EINVAL;
  *ret = (uint64_t)v << shift;
  return 0;
}

static int open_store(const struct opts *o, bool create, struct img_store **ret) {
  struct img_err err = {0};
  int r = img_store_open(img_store_path(o->store), create, ret, &err);
  if (r < 0)
    return fail("%s", err.msg), -1;
  return 0;
}

/* secret_image_trust.c: key, sign, policy; the signature part of ls and inspect */
int secret_image_trust_main(int argc, char **argv);
json_object *secret_image_trust_inspect(struct img_store *s, const char *hex, const char *policy);
void secret_image_trust_ls_warn(struct img_store *s, const struct img_entry *v, size_t n,
                                const char *policy);

static int cmd_import(const struct opts *o, const char *path) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  if (open_store(o, true, &s) < 0)
    return 1;
  struct img_import_opts io = {.name = o->name, .limits = o->limits};
  struct img_import_result res;
  struct img_err err = {0};
  int r = img_import(s, path, &io, &res, &err);
  if (r < 0)
    return fail("import %s: %s", path, err.msg);
  if (res.stats.skipped_nodes || res.stats.dropped_xattrs)
    fprintf(stderr, "%s: note: %" PRIu64 " device nodes/sockets not created, %" PRIu64
                    " non-user extended attributes dropped\n",
            prog, res.stats.skipped_nodes, res.stats.dropped_xattrs);
  if (o->json) {
    json_object *j = json_object_new_object();
    json_object_object_add(j, "name", json_object_new_string(res.ref));
    char d[80];
    snprintf(d, sizeof d, "sha256:%s", res.hex);
    json_object_object_add(j, "digest", json_object_new_string(d));
    json_object_object_add(j, "existed", json_object_new_boolean(res.existed));
    printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(j);
  } else {
    printf("%s sha256:%s%s\n", res.ref, res.hex, res.existed ? " (already stored)" : "");
  }
  return 0;
}

static json_object *entry_json(const struct img_entry *e) {
  json_object *j = json_object_new_object();
  char d[80];
  snprintf(d, sizeof d, "sha256:%s", e->hex);
  json_object_object_add(j, "name", e->ref[0] ? json_object_new_string(e->ref) : NULL);
  json_object_object_add(j, "digest", json_object_new_string(d));
  json_object_object_add(j, "created", json_object_new_int64((int64_t)e->created));
  json_object_object_add(j, "bytes", json_object_new_int64((int64_t)e->bytes));
  json_object_object_add(j, "files", json_object_new_int64((int64_t)e->files));
  json_object_object_add(j, "in_use", json_object_new_boolean(e->in_use));
  return j;
}

static int cmd_ls(const struct opts *o) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  if (open_store(o, true, &s) < 0)
    return 1;
  _cleanup_free_ struct img_entry *v = NULL;
  size_t n;
  int r = img_store_list(s, &v, &n);
  if (r < 0)
    return fail("listing %s: %s", img_store_dir(s), strerror(-r));
  secret_image_trust_ls_warn(s, v, n, o->policy); /* signatures about to expire */
  if (o->json) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
      json_object_array_add(a, entry_json(&v[i]));
    printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(a);
    return 0;
  }
  printf("%-40s %-19s %10s %7s %-20s %s\n", "NAME", "DIGEST", "SIZE", "FILES", "CREATED", "IN USE");
  for (size_t i = 0; i < n; i++) {
    char t[32] = "?";
    struct tm tm;
    if (gmtime_r(&v[i].created, &tm))
      strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-40s sha256:%.12s %10" PRIu64 " %7" PRIu64 " %-20s %s\n",
           v[i].ref[0] ? v[i].ref : "<none>", v[i].hex, v[i].bytes, v[i].files, t,
           v[i].in_use ? "yes" : "no");
  }
  return 0;
}

static json_object *strv_json(const struct img_strv *s) {
  if (!s->has)
    return NULL;
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < s->n; i++)
    json_object_array_add(a, json_object_new_string(s->v[i]));
  return a;
}

static int cmd_inspect(const struct opts *o, const char *ref) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  if (open_store(o, false, &s) < 0)
    return 1;
  char hex[IMG_HEX_LEN + 1];
  struct img_err err = {0};
  struct img_entry e;
  struct img_config c;
  if (img_store_resolve(s, ref, hex, &err) < 0 || img_store_config(s, hex, &c, &err) < 0)
    return fail("%s", err.msg);
  if (img_store_info(s, hex, &e) < 0)
    memset(&e, 0, sizeof e), snprintf(e.hex, sizeof e.hex, "%s", hex);
  e.in_use = img_store_in_use(s, hex);
  json_object *j = entry_json(&e);
  json_object_object_del(j, "name");
  /* every name of this image */
  _cleanup_free_ struct img_entry *v = NULL;
  size_t n = 0;
  json_object *names = json_object_new_array();
  if (img_store_list(s, &v, &n) == 0)
    for (size_t i = 0; i < n; i++)
      if (v[i].ref[0] && !strcmp(v[i].hex, hex))
        json_object_array_add(names, json_object_new_string(v[i].ref));
  json_object_object_add(j, "names", names);
  char dir[4400];
  snprintf(dir, sizeof dir, "%s/images/%s/rootfs", img_store_dir(s), hex);
  json_object_object_add(j, "rootfs", json_object_new_string(dir));
  json_object *cfg = json_object_new_object();
  json_object_object_add(cfg, "User", c.user ? json_object_new_string(c.user) : NULL);
  json_object_object_add(cfg, "WorkingDir", c.workdir ? json_object_new_string(c.workdir) : NULL);
  json_object_object_add(cfg, "Env", strv_json(&c.env));
  json_object_object_add(cfg, "Entrypoint", strv_json(&c.entrypoint));
  json_object_object_add(cfg, "Cmd", strv_json(&c.cmd));
  json_object_object_add(j, "config", cfg);
  json_object_object_add(j, "signatures", secret_image_trust_inspect(s, hex, o->policy));
  printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(j);
  img_config_done(&c);
  return 0;
}

static int cmd_rm(const struct opts *o, const char *ref) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  if (open_store(o, false, &s) < 0)
    return 1;
  struct img_err err = {0};
  bool removed;
  if (img_store_remove(s, ref, &removed, &err) < 0)
    return fail("rm %s: %s", ref, err.msg);
  printf("removed %s%s\n", ref, removed ? "" : " (image kept: in use or named otherwise)");
  return 0;
}

static void gc_cb(void *ctx, const char *hex) {
  json_object *a = ctx;
  if (a)
    json_object_array_add(a, json_object_new_string(hex));
  else
    printf("removed sha256:%s\n", hex);
}

static int cmd_gc(const struct opts *o) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  if (open_store(o, false, &s) < 0)
    return 1;
  json_object *a = o->json ? json_object_new_array() : NULL;
  int r = img_store_gc(s, gc_cb, a);
  if (r < 0) {
    json_object_put(a);
    return fail("gc: %s", strerror(-r));
  }
  if (a) {
    printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(a);
  }
  return 0;
}

static void verify_cb(void *ctx, enum img_change w, const char *path) {
  printf("%s %s\n", w == IMG_CHANGED ? "changed" : w == IMG_ADDED ? "added" : "removed", path);
}

static int cmd_verify(const struct opts *o, const char *ref) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  if (open_store(o, false, &s) < 0)
    return 1;
  char hex[IMG_HEX_LEN + 1];
  struct img_err err = {0};
  size_t changes = 0;
  if (img_store_resolve(s, ref, hex, &err) < 0)
    return fail("%s", err.msg);
  int r = img_verify(s, hex, o->deep, verify_cb, NULL, &changes, &err);
  fflush(stdout);
  if (r < 0 && changes)
    return fail("verify %s: %zu paths differ from the record", ref, changes);
  if (r < 0)
    return fail("verify %s: %s", ref, err.msg);
  printf("ok %s sha256:%s%s\n", ref, hex, o->deep ? " (deep)" : "");
  return 0;
}

int secret_image_scan_main(int argc, char **argv); /* secret_image_scan.c: scan, db */

int main(int argc, char **argv) {
  int sr = secret_image_scan_main(argc, argv);
  if (sr >= 0)
    return sr;
  int tr = secret_image_trust_main(argc, argv);
  if (tr >= 0)
    return tr;
  struct opts o = {.limits = {IMG_DEFAULT_MAX_BYTES, IMG_DEFAULT_MAX_ENTRIES}};
  enum { O_STORE = 256, O_NAME, O_JSON, O_DEEP, O_MAXSIZE, O_MAXENT, O_HELP, O_POLICY };
  static const struct option lo[] = {
      {"store", required_argument, NULL, O_STORE},    {"name", required_argument, NULL, O_NAME},
      {"json", no_argument, NULL, O_JSON},            {"deep", no_argument, NULL, O_DEEP},
      {"max-size", required_argument, NULL, O_MAXSIZE},
      {"max-entries", required_argument, NULL, O_MAXENT},
      {"help", no_argument, NULL, O_HELP},            {"policy", required_argument, NULL, O_POLICY},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (c) {
    case O_STORE: o.store = optarg; break;
    case O_NAME: o.name = optarg; break;
    case O_POLICY: o.policy = optarg; break;
    case O_JSON: o.json = true; break;
    case O_DEEP: o.deep = true; break;
    case O_MAXSIZE:
      if (parse_size(optarg, &o.limits.max_bytes) < 0)
        return fail("--max-size: expected a size such as 512m or 2g, got \"%s\"", optarg);
      break;
    case O_MAXENT:
      if (parse_size(optarg, &o.limits.max_entries) < 0)
        return fail("--max-entries: expected a positive number, got \"%s\"", optarg);
      break;
    case 'h':
    case O_HELP: usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (sodium_init() < 0)
    return fail("libsodium failed to initialise");
  int n = argc - optind;
  char **a = argv + optind;
  if (n < 1)
    return usage(stderr), 2;
  const char *verb = a[0];
  if (!strcmp(verb, "import") && n == 2)
    return cmd_import(&o, a[1]);
  if (!strcmp(verb, "ls") && n == 1)
    return cmd_ls(&o);
  if (!strcmp(verb, "inspect") && n == 2)
    return cmd_inspect(&o, a[1]);
  if (!strcmp(verb, "rm") && n == 2)
    return cmd_rm(&o, a[1]);
  if (!strcmp(verb, "gc") && n == 1)
    return cmd_gc(&o);
  if (!strcmp(verb, "verify") && n == 2)
    return cmd_verify(&o, a[1]);
  usage(stderr);
  return 2;
}
