/* Verbs on secrets: create, rotate, rm, ls, inspect. Values are read into
 * guarded memory, packed straight into the (wiping) request buffer and
 * freed (wiped) right after the call; no reply carries a value. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "base/error.h"
#include "base/macro.h"
#include "cli/cli.h"
#include "cli/opts.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct wire_reply *, wire_reply_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct table *, table_free)

/* "VERB 'NAME'" for error lines, made printable. */
static void what_of(char *buf, size_t len, const char *verb, const char *name) {
  snprintf(buf, len, "%s %.80s", verb, name);
  cli_printable(buf);
}

static int value_error(const char *verb, const char *file, int r) {
  switch (r) {
  case -ENOTTY:
    return cli_usage_err(verb, "refusing to read the value from a terminal; pipe it in or name a FILE");
  case -ENODATA:
    cli_err("%s: the value is empty (a secret holds 1 byte to 500 KiB)", verb);
    break;
  case -EFBIG:
    cli_err("%s: the value is larger than 500 KiB (%d bytes)", verb, CLI_VALUE_MAX);
    break;
  default:
    cli_err("%s: cannot read the value from %.200s: %s", verb,
            file && strcmp(file, "-") ? file : "standard input", sd_strerror(r));
  }
  return CLI_EXIT_DAEMON;
}

/* ---- create ---- */

static const struct option create_opts[] = {
    {"label", required_argument, NULL, OPT_LABEL}, CLI_COMMON_LONGOPTS, CLI_LONGOPTS_END};

static int add_label(struct create_args *a, const char *arg) {
  struct cli_label l;
  if (cli_parse_label(arg, &l) < 0)
    return cli_usage_err("create", "--label wants KEY=VALUE, got '%.64s'", arg);
  if (l.key_len > 256 || strlen(l.value) > 1024)
    return cli_usage_err("create", "label key (256 bytes) or value (1024 bytes) too long");
  for (size_t i = 0; i < a->n_labels; i++)
    if (a->labels[i].key_len == l.key_len && !memcmp(a->labels[i].key, l.key, l.key_len))
      return cli_usage_err("create", "label '%.*s' given twice", (int)l.key_len, l.key);
  if (a->n_labels == CLI_MAX_LABELS)
    return cli_usage_err("create", "at most %d labels", CLI_MAX_LABELS);
  a->labels[a->n_labels++] = l;
  return 0;
}

int create_parse(int argc, char **argv, struct create_args *a) {
  static const char *const names[] = {"NAME", "FILE"};
  const char *pos[2];
  int c, r;

  memset(a, 0, sizeof(*a));
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, create_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &a->co))
      continue;
    if (c != OPT_LABEL)
      return cli_bad_option("create", c, optopt, argv, optind);
    if ((r = add_label(a, optarg)) != 0)
      return r;
  }
  if (a->co.help)
    return 0;
  if ((r = cli_positionals("create", argc, argv, optind, 1, 2, names, pos)) != 0)
    return r;
  a->name = pos[0];
  a->file = pos[1];
  return 0;
}

struct value_req {
  const char *key; /* "name" or "ref" */
  const char *name;
  struct secbuf *value;
  const struct cli_label *labels;
  size_t n_labels;
};

static void pack_value_req(msgpack_packer *pk, void *ud) {
  const struct value_req *q = ud;
  msgpack_pack_map(pk, q->n_labels ? 3 : 2);
  wire_pack_kv_str(pk, q->key, q->name);
  wire_pack_str(pk, "value");
  msgpack_pack_bin(pk, secbuf_len(q->value));
  msgpack_pack_bin_body(pk, secbuf_data(q->value), secbuf_len(q->value));
  if (q->n_labels) {
    wire_pack_str(pk, "labels");
    msgpack_pack_map(pk, q->n_labels);
    for (size_t i = 0; i < q->n_labels; i++) {
      msgpack_pack_str(pk, q->labels[i].key_len);
      msgpack_pack_str_body(pk, q->labels[i].key, q->labels[i].key_len);
      wire_pack_str(pk, q->labels[i].value);
    }
  }
}

/* Read the value, send it, wipe it. */
static int send_value(const char *verb, enum wire_op op, struct value_req *q, const char *file,
                      const char *socket, struct wire_reply **ret) {
  _cleanup_(secbuf_freep) struct secbuf *v = NULL;
  struct cli c = {.socket = cli_socket_path(socket)};
  char what[128];
  int r;

  if ((r = cli_value_read(file, CLI_VALUE_MAX, &v)) < 0)
    return value_error(verb, file, r);
  q->value = v;
  what_of(what, sizeof(what), verb, q->name);
  r = cli_call(&c, what, NULL, op, pack_value_req, q, ret);
  cli_close(&c);
  return r;
}

int cli_reply_target(const msgpack_object *m, char id[65], char name[260]) {
  int r;
  if ((r = cli_reply_str(m, "id", id, 65)) != 0 || (r = cli_reply_str(m, "name", name, 260)) != 0)
    return r;
  cli_printable(id);
  cli_printable(name);
  return 0;
}

int verb_create(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct create_args a;
  char id[65], name[260];
  int r;
  if ((r = create_parse(argc, argv, &a)) != 0 || a.co.help)
    return cli_parsed("create", r, a.co.help);
  struct value_req q = {"name", a.name, NULL, a.labels, a.n_labels};
  if ((r = send_value("create", WIRE_OP_SECRET_CREATE, &q, a.file, a.co.socket, &rep)) != 0)
    return r;
  if ((r = cli_reply_target(rep->r.result, id, name)) != 0)
    return r;
  printf("created %s (id %s, version 1)\n", name, id);
  return 0;
}

/* ---- rotate ---- */

static const struct option plain_opts[] = {CLI_COMMON_LONGOPTS, CLI_LONGOPTS_END};

int rotate_parse(int argc, char **argv, struct rotate_args *a) {
  static const char *const names[] = {"NAME", "FILE"};
  const char *pos[2];
  int c, r;

  memset(a, 0, sizeof(*a));
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, plain_opts, NULL)) != -1)
    if (!cli_common_opt(c, optarg, &a->co))
      return cli_bad_option("rotate", c, optopt, argv, optind);
  if (a->co.help)
    return 0;
  if ((r = cli_positionals("rotate", argc, argv, optind, 1, 2, names, pos)) != 0)
    return r;
  a->name = pos[0];
  a->file = pos[1];
  return 0;
}

int verb_rotate(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct rotate_args a;
  char id[65], name[260];
  uint64_t version;
  int r;
  if ((r = rotate_parse(argc, argv, &a)) != 0 || a.co.help)
    return cli_parsed("rotate", r, a.co.help);
  struct value_req q = {"ref", a.name, NULL, NULL, 0};
  if ((r = send_value("rotate", WIRE_OP_SECRET_ROTATE, &q, a.file, a.co.socket, &rep)) != 0)
    return r;
  if ((r = cli_reply_uint(rep->r.result, "version", &version)) != 0 ||
      (r = cli_reply_target(rep->r.result, id, name)) != 0)
    return r;
  printf("rotated %s (id %s) to version %" PRIu64 "\n", name, id, version);
  return 0;
}

/* ---- rm ---- */

static const struct option rm_opts[] = {
    {"force", no_argument, NULL, OPT_FORCE}, CLI_COMMON_LONGOPTS, CLI_LONGOPTS_END};

int rm_parse(int argc, char **argv, struct rm_args *a) {
  static const char *const names[] = {"NAME"};
  int c, r;

  memset(a, 0, sizeof(*a));
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, rm_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &a->co))
      continue;
    if (c != OPT_FORCE)
      return cli_bad_option("rm", c, optopt, argv, optind);
    a->force = true;
  }
  if (a->co.help)
    return 0;
  if ((r = cli_positionals("rm", argc, argv, optind, 1, 1, names, &a->name)) != 0)
    return r;
  return 0;
}

static void pack_rm(msgpack_packer *pk, void *ud) {
  const struct rm_args *a = ud;
  msgpack_pack_map(pk, a->force ? 2 : 1);
  wire_pack_kv_str(pk, "ref", a->name);
  if (a->force)
    wire_pack_kv_bool(pk, "force", true);
}

int verb_rm(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct rm_args a;
  char what[128], id[65], name[260];
  int r;
  if ((r = rm_parse(argc, argv, &a)) != 0 || a.co.help)
    return cli_parsed("rm", r, a.co.help);
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  what_of(what, sizeof(what), "rm", a.name);
  r = cli_call(&c, what, NULL, WIRE_OP_SECRET_RM, pack_rm, &a, &rep);
  cli_close(&c);
  if (r == 0 && (r = cli_reply_target(rep->r.result, id, name)) == 0)
    printf("removed %s (id %s)\n", name, id);
  return r;
}

/* ---- ls ---- */

static const struct option json_opts[] = {CLI_JSON_LONGOPT, CLI_COMMON_LONGOPTS, CLI_LONGOPTS_END};
static const struct option ls_opts[] = {CLI_JSON_LONGOPT, CLI_PAGE_SIZE_LONGOPT,
                                        CLI_COMMON_LONGOPTS, CLI_LONGOPTS_END};

int ls_parse(int argc, char **argv, struct ls_args *a) {
  int c;
  memset(a, 0, sizeof(*a));
  a->page_size = WIRE_PAGE_MAX;
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, ls_opts, NULL)) != -1) {
    if (cli_common_opt(c, optarg, &a->co))
      continue;
    if (c != OPT_PAGE_SIZE)
      return cli_bad_option("ls", c, optopt, argv, optind);
    if (cli_parse_page_size(optarg, &a->page_size) < 0)
      return cli_usage_err("ls", "--page-size wants a number from 1 to %d, got '%.32s'",
                           WIRE_PAGE_MAX, optarg);
  }
  if (a->co.help)
    return 0;
  return cli_positionals("ls", argc, argv, optind, 0, 0, NULL, NULL);
}

/* Labels map -> JSON object on f, or "k=v,k=v" into buf. */
static int labels_out(const msgpack_object *m, FILE *json, char *buf, size_t len) {
  char k[260], v[1030];
  size_t pos = 0;
  if (json)
    fputc('{', json);
  if (buf && len)
    buf[0] = 0;
  for (uint32_t i = 0; i < m->via.map.size; i++) {
    if (wire_obj_str(&m->via.map.ptr[i].key, k, sizeof(k)) < 0 ||
        wire_obj_str(&m->via.map.ptr[i].val, v, sizeof(v)) < 0) {
      cli_err("unexpected reply from secretd (labels)");
      return CLI_EXIT_DAEMON;
    }
    if (json) {
      fputs(i ? "," : "", json);
      json_write_str(json, k, strlen(k));
      fputc(':', json);
      json_write_str(json, v, strlen(v));
    }
    if (buf && pos < len) {
      int n = snprintf(buf + pos, len - pos, "%s%s=%s", i ? "," : "", k, v);
      pos += n > 0 ? (size_t)n : 0;
    }
  }
  if (json)
    fputc('}', json);
  return 0;
}

struct secret_row {
  char id[65], name[260], created[40], updated[40];
  uint64_t latest, versions, grants;
  const msgpack_object *labels;
};

static int read_row(const msgpack_object *o, struct secret_row *s, bool for_json) {
  uint64_t cns, uns;
  int r;
  if ((r = cli_reply_is_map(o, "secrets")) || (r = cli_reply_str(o, "id", s->id, sizeof(s->id))) ||
      (r = cli_reply_str(o, "name", s->name, sizeof(s->name))) ||
      (r = cli_reply_uint(o, "created_ns", &cns)) || (r = cli_reply_uint(o, "updated_ns", &uns)) ||
      (r = cli_reply_uint(o, "latest", &s->latest)) ||
      (r = cli_reply_uint(o, "versions", &s->versions)) ||
      (r = cli_reply_uint(o, "grants", &s->grants)) ||
      (r = cli_reply_map(o, "labels", &s->labels)))
    return r;
  (for_json ? cli_time_long : cli_time_short)(cns, s->created, sizeof(s->created));
  (for_json ? cli_time_long : cli_time_short)(uns, s->updated, sizeof(s->updated));
  return 0;
}

/* The listing as it arrives page by page: JSON streams, the table (whose
 * columns are as wide as their widest cell) is printed at the end. */
struct ls_out {
  bool json, started; /* started: the first page arrived ("[" printed) */
  size_t n;           /* rows so far */
  struct table *t;
};

static int ls_json_rows(const msgpack_object *arr, struct ls_out *o) {
  struct secret_row s;
  int r;
  for (uint32_t i = 0; i < arr->via.array.size; i++, o->n++) {
    if ((r = read_row(&arr->via.array.ptr[i], &s, true)) != 0)
      return r;
    fputs(o->n ? ",\n {\"id\":" : "\n {\"id\":", stdout);
    json_write_str(stdout, s.id, strlen(s.id));
    fputs(",\"name\":", stdout);
    json_write_str(stdout, s.name, strlen(s.name));
    printf(",\"created\":\"%s\",\"updated\":\"%s\",\"latest\":%" PRIu64 ",\"versions\":%" PRIu64
           ",\"grants\":%" PRIu64 ",\"labels\":",
           s.created, s.updated, s.latest, s.versions, s.grants);
    if ((r = labels_out(s.labels, stdout, NULL, 0)) != 0)
      return r;
    fputs("}", stdout);
  }
  return 0;
}

static int ls_table_rows(const msgpack_object *arr, struct ls_out *o) {
  struct secret_row s;
  char latest[24], versions[24], grants[24], labels[512];
  int r;
  for (uint32_t i = 0; i < arr->via.array.size; i++, o->n++) {
    if ((r = read_row(&arr->via.array.ptr[i], &s, false)) != 0 ||
        (r = labels_out(s.labels, NULL, labels, sizeof(labels))) != 0)
      return r;
    snprintf(latest, sizeof(latest), "%" PRIu64, s.latest);
    snprintf(versions, sizeof(versions), "%" PRIu64, s.versions);
    snprintf(grants, sizeof(grants), "%" PRIu64, s.grants);
    const char *row[] = {s.name, s.id, latest, versions, grants, s.updated, labels};
    if (table_add(o->t, row) < 0) {
      cli_err("out of memory");
      return CLI_EXIT_DAEMON;
    }
  }
  return 0;
}

static int ls_page(const msgpack_object *result, void *ud) {
  struct ls_out *o = ud;
  const msgpack_object *arr;
  int r = cli_reply_array(result, "secrets", &arr);
  if (r)
    return r;
  if (o->json && !o->started)
    fputs("[", stdout);
  o->started = true;
  return o->json ? ls_json_rows(arr, o) : ls_table_rows(arr, o);
}

int verb_ls(int argc, char **argv) {
  static const char *const head[] = {"NAME", "ID", "LATEST", "VERSIONS", "GRANTS", "UPDATED",
                                     "LABELS"};
  _cleanup_(table_freep) struct table *t = NULL;
  struct ls_args a;
  int r;
  if ((r = ls_parse(argc, argv, &a)) != 0 || a.co.help)
    return cli_parsed("ls", r, a.co.help);
  if (!a.co.json && table_new(ARRAY_SIZE(head), head, &t) < 0) {
    cli_err("out of memory");
    return CLI_EXIT_DAEMON;
  }
  struct ls_out o = {.json = a.co.json, .t = t};
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  r = cli_follow_pages(&c, "ls", WIRE_OP_SECRET_LS, a.page_size, "secrets", 0, NULL, NULL,
                       ls_page, &o);
  cli_close(&c);
  if (r)
    return r;
  if (a.co.json)
    fputs(o.n ? "\n]\n" : "]\n", stdout);
  else
    table_print(t, stdout);
  return 0;
}

/* ---- inspect ---- */

int inspect_parse(int argc, char **argv, struct inspect_args *a) {
  static const char *const names[] = {"NAME"};
  int c;
  memset(a, 0, sizeof(*a));
  cli_getopt_reset();
  while ((c = getopt_long(argc, argv, CLI_SHORTOPTS, json_opts, NULL)) != -1)
    if (!cli_common_opt(c, optarg, &a->co))
      return cli_bad_option("inspect", c, optopt, argv, optind);
  if (a->co.help)
    return 0;
  return cli_positionals("inspect", argc, argv, optind, 1, 1, names, &a->name);
}

static void pack_ref(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "ref", ud);
}

struct grant_row {
  char service[260], target[300], created[40];
  uint64_t uid, gid, mode, version; /* version 0: follows the latest */
  bool uid_unset, gid_unset;        /* the service's user */
};

/* An owner id, or nil: unset (the service's user). */
static int read_owner(const msgpack_object *o, const char *key, uint64_t *id, bool *unset) {
  const msgpack_object *v = wire_map_get(o, key);
  *unset = v && v->type == MSGPACK_OBJECT_NIL;
  *id = 0;
  return *unset ? 0 : cli_reply_uint(o, key, id);
}

static int read_grant(const msgpack_object *o, struct grant_row *g, bool for_json) {
  uint64_t cns;
  int r;
  if ((r = cli_reply_is_map(o, "grants")) ||
      (r = cli_reply_str(o, "service", g->service, sizeof(g->service))) ||
      (r = cli_reply_str(o, "target", g->target, sizeof(g->target))) ||
      (r = read_owner(o, "uid", &g->uid, &g->uid_unset)) ||
      (r = read_owner(o, "gid", &g->gid, &g->gid_unset)) ||
      (r = cli_reply_uint(o, "mode", &g->mode)) || (r = cli_reply_uint(o, "created_ns", &cns)))
    return r;
  g->version = 0;
  if (wire_map_get(o, "version") && (r = cli_reply_uint(o, "version", &g->version)))
    return r;
  (for_json ? cli_time_long : cli_time_short)(cns, g->created, sizeof(g->created));
  return 0;
}

static int read_version(const msgpack_object *o, uint64_t *ver, char *created, size_t len,
                        bool for_json) {
  uint64_t cns;
  int r;
  if ((r = cli_reply_is_map(o, "versions")) || (r = cli_reply_uint(o, "version", ver)) ||
      (r = cli_reply_uint(o, "created_ns", &cns)))
    return r;
  (for_json ? cli_time_long : cli_time_short)(cns, created, len);
  return 0;
}

/* All grants of the secret: the first page from inspect, the rest from grant.ls. */
struct grant_rows {
  struct grant_row *v;
  size_t n, cap;
  bool for_json;
};

static void grant_rows_free(struct grant_rows *g) {
  free(g->v);
  *g = (struct grant_rows){0};
}

static int grant_rows_add(const msgpack_object *arr, struct grant_rows *g) {
  int r;
  for (uint32_t i = 0; i < arr->via.array.size; i++) {
    if (g->n == g->cap) {
      size_t cap = g->cap ? g->cap * 2 : 16;
      void *p = realloc(g->v, cap * sizeof(*g->v));
      if (!p) {
        cli_err("out of memory");
        return CLI_EXIT_DAEMON;
      }
      g->v = p;
      g->cap = cap;
    }
    if ((r = read_grant(&arr->via.array.ptr[i], &g->v[g->n], g->for_json)) != 0)
      return r;
    g->n++;
  }
  return 0;
}

static int grant_page(const msgpack_object *result, void *ud) {
  const msgpack_object *arr;
  int r = cli_reply_array(result, "grants", &arr);
  return r ? r : grant_rows_add(arr, ud);
}

static void pack_grant_ref(msgpack_packer *pk, void *ud) { wire_pack_kv_str(pk, "ref", ud); }

static int inspect_json(const struct secret_row *s, const msgpack_object *vers,
                        const struct grant_rows *grants) {
  const struct grant_row *g;
  char created[40];
  uint64_t ver;
  int r;

  fputs("{\"id\":", stdout);
  json_write_str(stdout, s->id, strlen(s->id));
  fputs(",\"name\":", stdout);
  json_write_str(stdout, s->name, strlen(s->name));
  printf(",\"created\":\"%s\",\"updated\":\"%s\",\"latest\":%" PRIu64 ",\"labels\":", s->created,
         s->updated, s->latest);
  if ((r = labels_out(s->labels, stdout, NULL, 0)) != 0)
    return r;
  fputs(",\"versions\":[", stdout);
  for (uint32_t i = 0; i < vers->via.array.size; i++) {
    if ((r = read_version(&vers->via.array.ptr[i], &ver, created, sizeof(created), true)) != 0)
      return r;
    printf("%s{\"version\":%" PRIu64 ",\"created\":\"%s\"}", i ? "," : "", ver, created);
  }
  fputs("],\"grants\":[", stdout);
  for (size_t i = 0; i < grants->n; i++) {
    g = &grants->v[i];
    fputs(i ? ",{\"service\":" : "{\"service\":", stdout);
    json_write_str(stdout, g->service, strlen(g->service));
    fputs(",\"target\":", stdout);
    json_write_str(stdout, g->target, strlen(g->target));
    /* null: the service's user; version null: follows the latest */
    char u[24] = "null", gi[24] = "null", v[24] = "null";
    if (!g->uid_unset)
      snprintf(u, sizeof(u), "%" PRIu64, g->uid);
    if (!g->gid_unset)
      snprintf(gi, sizeof(gi), "%" PRIu64, g->gid);
    if (g->version)
      snprintf(v, sizeof(v), "%" PRIu64, g->version);
    printf(",\"uid\":%s,\"gid\":%s,\"mode\":%" PRIu64 ",\"version\":%s,\"created\":\"%s\"}", u,
           gi, g->mode, v, g->created);
  }
  fputs("]}\n", stdout);
  return 0;
}

static int inspect_text(struct secret_row *s, const msgpack_object *vers,
                        const struct grant_rows *grants) {
  static const char *const vhead[] = {"VERSION", "CREATED"};
  static const char *const ghead[] = {"SERVICE", "TARGET", "UID", "GID", "MODE", "VERSION",
                                      "CREATED"};
  _cleanup_(table_freep) struct table *vt = NULL;
  _cleanup_(table_freep) struct table *gt = NULL;
  const struct grant_row *g;
  char created[40], n1[24], n2[24], n3[24], n4[24], labels[2048];
  uint64_t ver;
  int r;

  if ((r = labels_out(s->labels, NULL, labels, sizeof(labels))) != 0)
    return r;
  cli_printable(s->name);
  cli_printable(labels);
  printf("name:     %s\nid:       %s\ncreated:  %s\nupdated:  %s\nlatest:   %" PRIu64
         "\nlabels:   %s\n",
         s->name, s->id, s->created, s->updated, s->latest, labels[0] ? labels : "-");
  if (table_new(ARRAY_SIZE(vhead), vhead, &vt) < 0 || table_new(ARRAY_SIZE(ghead), ghead, &gt) < 0)
    goto oom;
  for (uint32_t i = 0; i < vers->via.array.size; i++) {
    if ((r = read_version(&vers->via.array.ptr[i], &ver, created, sizeof(created), false)) != 0)
      return r;
    snprintf(n1, sizeof(n1), "%" PRIu64, ver);
    const char *row[] = {n1, created};
    if (table_add(vt, row) < 0)
      goto oom;
  }
  for (size_t i = 0; i < grants->n; i++) {
    g = &grants->v[i];
    /* "service": unset, the service's user */
    snprintf(n1, sizeof(n1), "%" PRIu64, g->uid);
    snprintf(n2, sizeof(n2), "%" PRIu64, g->gid);
    snprintf(n3, sizeof(n3), "%04" PRIo64, g->mode);
    snprintf(n4, sizeof(n4), "%" PRIu64, g->version);
    if (g->uid_unset)
      snprintf(n1, sizeof(n1), "service");
    if (g->gid_unset)
      snprintf(n2, sizeof(n2), "service");
    if (!g->version)
      snprintf(n4, sizeof(n4), "latest");
    const char *row[] = {g->service, g->target, n1, n2, n3, n4, g->created};
    if (table_add(gt, row) < 0)
      goto oom;
  }
  printf("\nversions:\n");
  table_print(vt, stdout);
  if (grants->n) {
    printf("\ngrants:\n");
    table_print(gt, stdout);
  } else {
    printf("\ngrants:   none\n");
  }
  return 0;
oom:
  cli_err("out of memory");
  return CLI_EXIT_DAEMON;
}

int verb_inspect(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  const msgpack_object *vers, *grants, *res;
  struct inspect_args a;
  struct secret_row s;
  struct grant_rows rows = {0};
  uint64_t cns, uns;
  char what[128], next[WIRE_CURSOR_MAX + 1];
  bool more;
  int r;
  if ((r = inspect_parse(argc, argv, &a)) != 0 || a.co.help)
    return cli_parsed("inspect", r, a.co.help);
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  what_of(what, sizeof(what), "inspect", a.name);
  r = cli_call(&c, what, NULL, WIRE_OP_SECRET_INSPECT, pack_ref, (void *)a.name, &rep);
  if (r)
    goto out;
  res = rep->r.result;
  if ((r = cli_reply_str(res, "id", s.id, sizeof(s.id))) ||
      (r = cli_reply_str(res, "name", s.name, sizeof(s.name))) ||
      (r = cli_reply_uint(res, "created_ns", &cns)) ||
      (r = cli_reply_uint(res, "updated_ns", &uns)) ||
      (r = cli_reply_uint(res, "latest", &s.latest)) ||
      (r = cli_reply_map(res, "labels", &s.labels)) ||
      (r = cli_reply_array(res, "versions", &vers)) ||
      (r = cli_reply_array(res, "grants", &grants)))
    goto out;
  rows.for_json = a.co.json;
  if ((r = grant_rows_add(grants, &rows)))
    goto out;
  /* more grants than one page: the rest through grant.ls, by the id (the
   * name could be taken by another secret meanwhile) */
  if (wire_page_next_at(res, "grants_next", next, &more) < 0) {
    cli_err("unexpected reply from secretd (field 'grants_next' missing or malformed)");
    r = CLI_EXIT_DAEMON;
    goto out;
  }
  if (more && (r = cli_follow_pages_from(&c, what, WIRE_OP_GRANT_LS, WIRE_PAGE_MAX, next, "grants",
                                         1, pack_grant_ref, s.id, grant_page, &rows)))
    goto out;
  s.versions = vers->via.array.size;
  s.grants = rows.n;
  (a.co.json ? cli_time_long : cli_time_short)(cns, s.created, sizeof(s.created));
  (a.co.json ? cli_time_long : cli_time_short)(uns, s.updated, sizeof(s.updated));
  r = a.co.json ? inspect_json(&s, vers, &rows) : inspect_text(&s, vers, &rows);
out:
  cli_close(&c);
  grant_rows_free(&rows);
  return r;
}
