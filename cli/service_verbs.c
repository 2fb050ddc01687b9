/*
 * `secret service create|ls|inspect|ps|rm`. create parses the launcher's options
 * with the launch spec module that secret-launch and secretd share (same rules,
 * same messages), reads a --seccomp-profile FILE here (its content travels in the
 * spec; the node needs no copy), and sends the spec's msgpack form; secretd decodes
 * and validates it again before storing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "runtime/launch_spec.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct wire_reply *, wire_reply_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct table *, table_free)

#define CREATE_USAGE "secret service create NAME --rootfs DIR --node NODE [options] -- CMD [ARG...]"

static const char *const SUBVERBS = "create, ls, inspect, ps, rm";

struct service_create_args {
  struct cli_common co;
  const char *name, *node;
  struct launch_spec spec;
};

/* "--opt" or "--opt=value": the option's name into buf and its inline value. */
static const char *split_opt(const char *arg, char *buf, size_t cap, const char **ret_inline) {
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
  if (n >= cap)
    n = cap - 1;
  memcpy(buf, arg, n);
  buf[n] = 0;
  *ret_inline = eq ? eq + 1 : NULL;
  return buf;
}

/* Read a seccomp profile file into the spec (its content is what travels). */
static int load_seccomp(struct service_create_args *a) {
  char err[LAUNCH_SPEC_ERRLEN];
  const char *path = a->spec.seccomp_path;
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return cli_usage_err("service", "--seccomp-profile %.200s: %s", path, strerror(errno));
  size_t cap = LAUNCH_SPEC_SECCOMP_MAX + 1, len = 0;
  _cleanup_free_ char *buf = malloc(cap);
  if (!buf) {
    cli_err("out of memory");
    return CLI_EXIT_DAEMON;
  }
  for (;;) {
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return cli_usage_err("service", "--seccomp-profile %.200s: %s", path, strerror(errno));
    if (n == 0)
      break;
    len += (size_t)n;
    if (len == cap)
      return cli_usage_err("service", "--seccomp-profile %.200s: larger than %u bytes", path,
                           LAUNCH_SPEC_SECCOMP_MAX);
  }
  if (launch_spec_set_seccomp(&a->spec, buf, len, err) < 0)
    return cli_usage_err("service", "%s", err);
  return 0;
}

/* argv[0] = "create". On success a->spec is complete and validated. */
static int service_create_parse(int argc, char **argv, struct service_create_args *a) {
  char err[LAUNCH_SPEC_ERRLEN], opt[64];
  int i, r;
  const char *inl;
  launch_spec_init(&a->spec);
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--")) {
      i++;
      break;
    }
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      a->co.help = true;
      return 0;
    }
    if (arg[0] != '-' || arg[1] == 0) { /* the one positional: NAME */
      if (a->name)
        return cli_usage_err("service", "unexpected argument '%.64s' (the command follows "
                                        "'--')", arg);
      if (!*arg)
        return cli_usage_err("service", "NAME is empty");
      a->name = arg;
      continue;
    }
    split_opt(arg, opt, sizeof(opt), &inl);
    int lo = strncmp(opt, "--", 2) == 0 ? launch_spec_option_lookup(opt + 2) : -ENOENT;
    bool known = lo >= 0 || !strcmp(opt, "--node") || !strcmp(opt, "--socket");
    if (!known)
      return cli_usage_err("service", "unknown option '%.64s'", opt);
    bool has_arg = lo < 0 || launch_spec_option_has_arg((enum launch_opt)lo);
    const char *val = inl;
    if (has_arg && !val) {
      if (i + 1 >= argc)
        return cli_usage_err("service", "option '%.64s' needs a value", opt);
      val = argv[++i];
    } else if (!has_arg && val) {
      return cli_usage_err("service", "option '%.64s' takes no value", opt);
    }
    if (!strcmp(opt, "--node")) {
      a->node = val;
    } else if (!strcmp(opt, "--socket")) {
      a->co.socket = val;
    } else if ((r = launch_spec_apply(&a->spec, (enum launch_opt)lo, val, err)) < 0) {
      if (r == -ENOMEM) {
        cli_err("out of memory");
        return CLI_EXIT_DAEMON;
      }
      return cli_usage_err("service", "%s", err);
    }
  }
  if (!a->name)
    return cli_usage_err("service", "missing NAME");
  if (!a->node || !*a->node)
    return cli_usage_err("service", "--node NODE is required");
  if (!a->spec.rootfs)
    return cli_usage_err("service", "--rootfs DIR is required");
  if ((r = launch_spec_set_command(&a->spec, argc - i, argv + i, CREATE_USAGE, err)) < 0) {
    if (r == -ENOMEM) {
      cli_err("out of memory");
      return CLI_EXIT_DAEMON;
    }
    return cli_usage_err("service", "%s", err);
  }
  if (a->spec.seccomp_path && !a->spec.seccomp_unconfined && (r = load_seccomp(a)) != 0)
    return r;
  if (launch_spec_validate(&a->spec, err) < 0)
    return cli_usage_err("service", "%s", err);
  return 0;
}

struct create_pack {
  const struct service_create_args *a;
  msgpack_sbuffer spec;
};

static void pack_create(msgpack_packer *pk, void *ud) {
  const struct create_pack *p = ud;
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "name", p->a->name);
  wire_pack_kv_str(pk, "node", p->a->node);
  wire_pack_str(pk, "spec");
  msgpack_pack_bin_with_body(pk, p->spec.data, p->spec.size);
}

static int service_create(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct service_create_args a = {0};
  struct create_pack p = {.a = &a};
  char what[200];
  int r = service_create_parse(argc, argv, &a);
  if (r != 0 || a.co.help) {
    launch_spec_clear(&a.spec);
    if (r == 0)
      cli_verb_usage(cli_verb_find("service"), stdout);
    return r;
  }
  msgpack_sbuffer_init(&p.spec);
  if (launch_spec_encode(&a.spec, &p.spec) < 0) {
    cli_err("out of memory");
    r = CLI_EXIT_DAEMON;
    goto out;
  }
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  snprintf(what, sizeof(what), "service create %.64s", a.name);
  cli_printable(what);
  r = cli_call(&c, what, NULL, WIRE_OP_SERVICE_CREATE, pack_create, &p, &rep);
  cli_close(&c);
  if (r == 0) {
    char name[260];
    snprintf(name, sizeof(name), "%s", a.name);
    cli_printable(name);
    printf("created service %s\n", name);
  }
out:
  msgpack_sbuffer_destroy(&p.spec);
  launch_spec_clear(&a.spec);
  return r;
}

/* ---- the other sub-verbs: NAME and --json/--socket ---- */

struct simple_args {
  struct cli_common co;
  const char *name;
};

static int simple_parse(int argc, char **argv, bool want_name, struct simple_args *a) {
  memset(a, 0, sizeof(*a));
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help"))
      a->co.help = true;
    else if (!strcmp(arg, "--json"))
      a->co.json = true;
    else if (!strcmp(arg, "--socket") && i + 1 < argc)
      a->co.socket = argv[++i];
    else if (!strncmp(arg, "--socket=", 9))
      a->co.socket = arg + 9;
    else if (arg[0] == '-' && arg[1])
      return cli_usage_err("service", "unknown option '%.64s'", arg);
    else if (want_name && !a->name && *arg)
      a->name = arg;
    else
      return cli_usage_err("service", "unexpected argument '%.64s'", arg);
  }
  if (!a->co.help && want_name && !a->name)
    return cli_usage_err("service", "missing NAME");
  return 0;
}

static void pack_name(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "name", ud);
}

/* A msgpack object as JSON (the spec's map; bins as strings: a seccomp profile). */
static void json_obj(const msgpack_object *o) {
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: fputs("null", stdout); break;
  case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", stdout); break;
  case MSGPACK_OBJECT_POSITIVE_INTEGER: printf("%" PRIu64, o->via.u64); break;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: printf("%" PRId64, o->via.i64); break;
  case MSGPACK_OBJECT_STR: json_write_str(stdout, o->via.str.ptr, o->via.str.size); break;
  case MSGPACK_OBJECT_BIN: json_write_str(stdout, o->via.bin.ptr, o->via.bin.size); break;
  case MSGPACK_OBJECT_ARRAY:
    fputc('[', stdout);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      if (i)
        fputc(',', stdout);
      json_obj(&o->via.array.ptr[i]);
    }
    fputc(']', stdout);
    break;
  case MSGPACK_OBJECT_MAP:
    fputc('{', stdout);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      if (i)
        fputc(',', stdout);
      const msgpack_object *k = &o->via.map.ptr[i].key;
      if (k->type == MSGPACK_OBJECT_STR)
        json_write_str(stdout, k->via.str.ptr, k->via.str.size);
      else
        fputs("\"?\"", stdout);
      fputc(':', stdout);
      json_obj(&o->via.map.ptr[i].val);
    }
    fputc('}', stdout);
    break;
  default: fputs("null", stdout); break;
  }
}

struct task_row {
  char id[65], node[260], desired[32], state[32], since[40], exit[16];
  uint64_t slot, restarts;
};

static int read_task(const msgpack_object *o, struct task_row *t, bool for_json) {
  uint64_t since;
  int r;
  if ((r = cli_reply_is_map(o, "tasks")) || (r = cli_reply_str(o, "id", t->id, sizeof(t->id))) ||
      (r = cli_reply_uint(o, "slot", &t->slot)) ||
      (r = cli_reply_str(o, "node", t->node, sizeof(t->node))) ||
      (r = cli_reply_str(o, "desired", t->desired, sizeof(t->desired))) ||
      (r = cli_reply_str(o, "state", t->state, sizeof(t->state))) ||
      (r = cli_reply_uint(o, "since_ns", &since)) ||
      (r = cli_reply_uint(o, "restarts", &t->restarts)))
    return r;
  (for_json ? cli_time_long : cli_time_short)(since, t->since, sizeof(t->since));
  const msgpack_object *e = wire_map_get(o, "exit_code");
  if (e && e->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    snprintf(t->exit, sizeof(t->exit), "%" PRIu64, e->via.u64);
  else if (e && e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
    snprintf(t->exit, sizeof(t->exit), "%" PRId64, e->via.i64);
  else
    snprintf(t->exit, sizeof(t->exit), for_json ? "null" : "-");
  return 0;
}

struct svc_row {
  char name[260], node[260], created[40], updated[40];
  const msgpack_object *tasks;
};

static int read_service(const msgpack_object *o, struct svc_row *s, bool for_json) {
  uint64_t c, u;
  int r;
  if ((r = cli_reply_is_map(o, "services")) ||
      (r = cli_reply_str(o, "name", s->name, sizeof(s->name))) ||
      (r = cli_reply_str(o, "node", s->node, sizeof(s->node))) ||
      (r = cli_reply_uint(o, "created_ns", &c)) || (r = cli_reply_uint(o, "updated_ns", &u)) ||
      (r = cli_reply_array(o, "tasks", &s->tasks)))
    return r;
  (for_json ? cli_time_long : cli_time_short)(c, s->created, sizeof(s->created));
  (for_json ? cli_time_long : cli_time_short)(u, s->updated, sizeof(s->updated));
  return 0;
}

static int tasks_json(const msgpack_object *tasks) {
  struct task_row t;
  int r;
  fputc('[', stdout);
  for (uint32_t i = 0; i < tasks->via.array.size; i++) {
    if ((r = read_task(&tasks->via.array.ptr[i], &t, true)) != 0)
      return r;
    fputs(i ? ",{\"id\":" : "{\"id\":", stdout);
    json_write_str(stdout, t.id, strlen(t.id));
    printf(",\"slot\":%" PRIu64 ",\"node\":", t.slot);
    json_write_str(stdout, t.node, strlen(t.node));
    fputs(",\"desired\":", stdout);
    json_write_str(stdout, t.desired, strlen(t.desired));
    fputs(",\"state\":", stdout);
    json_write_str(stdout, t.state, strlen(t.state));
    printf(",\"since\":\"%s\",\"exit_code\":%s,\"restarts\":%" PRIu64 "}", t.since, t.exit,
           t.restarts);
  }
  fputc(']', stdout);
  return 0;
}

static void service_json_head(const struct svc_row *s) {
  fputs("{\"name\":", stdout);
  json_write_str(stdout, s->name, strlen(s->name));
  fputs(",\"node\":", stdout);
  json_write_str(stdout, s->node, strlen(s->node));
  printf(",\"created\":\"%s\",\"updated\":\"%s\",\"tasks\":", s->created, s->updated);
}

struct svc_ls_out {
  bool json;
  size_t shown;
  struct table *t;
};

static int service_ls_page(const msgpack_object *result, void *ud) {
  struct svc_ls_out *o = ud;
  const msgpack_object *arr;
  int r = cli_reply_array(result, "services", &arr);
  for (uint32_t i = 0; !r && i < arr->via.array.size; i++) {
    struct svc_row s;
    struct task_row tr = {.state = "-"};
    if ((r = read_service(&arr->via.array.ptr[i], &s, o->json)) != 0)
      break;
    if (o->json) {
      fputs(o->shown++ ? ",\n " : "\n ", stdout);
      service_json_head(&s);
      if ((r = tasks_json(s.tasks)) != 0)
        break;
      fputs("}", stdout);
      continue;
    }
    if (s.tasks->via.array.size && (r = read_task(&s.tasks->via.array.ptr[0], &tr, false)))
      break;
    const char *row[] = {s.name, s.node, tr.state, s.created};
    if (table_add(o->t, row) < 0) {
      cli_err("out of memory");
      return CLI_EXIT_DAEMON;
    }
  }
  return r;
}

static int service_ls(int argc, char **argv) {
  static const char *const head[] = {"NAME", "NODE", "STATE", "CREATED"};
  _cleanup_(table_freep) struct table *t = NULL;
  struct simple_args a;
  int r = simple_parse(argc, argv, false, &a);
  if (r != 0 || a.co.help)
    return r ? r : (cli_verb_usage(cli_verb_find("service"), stdout), 0);
  if (!a.co.json && table_new(ARRAY_SIZE(head), head, &t) < 0)
    goto oom;
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  struct svc_ls_out o = {.json = a.co.json, .t = t};
  if (a.co.json)
    fputs("[", stdout);
  r = cli_follow_pages(&c, "service ls", WIRE_OP_SERVICE_LS, WIRE_PAGE_MAX, "services", 0, NULL,
                       NULL, service_ls_page, &o);
  cli_close(&c);
  if (r)
    return r;
  if (a.co.json)
    fputs(o.shown ? "\n]\n" : "]\n", stdout);
  else
    table_print(t, stdout);
  return 0;
oom:
  cli_close(&c);
  cli_err("out of memory");
  return CLI_EXIT_DAEMON;
}

/* Text lines of a spec (decoded from the reply's map, as stored). */
static void print_spec_text(const msgpack_object *spec) {
  for (uint32_t i = 0; spec && i < spec->via.map.size; i++) {
    const msgpack_object *k = &spec->via.map.ptr[i].key, *v = &spec->via.map.ptr[i].val;
    if (k->type != MSGPACK_OBJECT_STR || (k->via.str.size == 1 && k->via.str.ptr[0] == 'v'))
      continue;
    char key[40];
    snprintf(key, sizeof(key), "%.*s:", (int)(k->via.str.size > 30 ? 30 : k->via.str.size),
             k->via.str.ptr);
    printf("  %-14s", key);
    if (v->type == MSGPACK_OBJECT_BIN)
      printf("(%u bytes)", v->via.bin.size);
    else
      json_obj(v);
    fputc('\n', stdout);
  }
}

static int service_inspect(int argc, char **argv, bool ps) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct simple_args a;
  struct svc_row s;
  char what[200];
  int r = simple_parse(argc, argv, true, &a);
  if (r != 0 || a.co.help)
    return r ? r : (cli_verb_usage(cli_verb_find("service"), stdout), 0);
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  snprintf(what, sizeof(what), "service %s %.64s", ps ? "ps" : "inspect", a.name);
  cli_printable(what);
  r = cli_call(&c, what, "no such service", WIRE_OP_SERVICE_INSPECT, pack_name, (void *)a.name,
               &rep);
  cli_close(&c);
  if (r || (r = read_service(rep->r.result, &s, a.co.json)))
    return r;
  const msgpack_object *spec = wire_map_get(rep->r.result, "spec");
  if (a.co.json && ps)
    return tasks_json(s.tasks) ? CLI_EXIT_DAEMON : (fputc('\n', stdout), 0);
  if (a.co.json) {
    service_json_head(&s);
    if ((r = tasks_json(s.tasks)) != 0)
      return r;
    fputs(",\"spec\":", stdout);
    if (spec)
      json_obj(spec);
    else
      fputs("null", stdout);
    fputs("}\n", stdout);
    return 0;
  }
  static const char *const head[] = {"TASK", "NODE", "DESIRED", "STATE", "SINCE", "EXIT",
                                     "RESTARTS"};
  _cleanup_(table_freep) struct table *t = NULL;
  if (table_new(ARRAY_SIZE(head), head, &t) < 0)
    goto oom;
  for (uint32_t i = 0; i < s.tasks->via.array.size; i++) {
    struct task_row tr;
    char restarts[24];
    if ((r = read_task(&s.tasks->via.array.ptr[i], &tr, false)) != 0)
      return r;
    snprintf(restarts, sizeof(restarts), "%" PRIu64, tr.restarts);
    const char *row[] = {tr.id, tr.node, tr.desired, tr.state, tr.since, tr.exit, restarts};
    if (table_add(t, row) < 0)
      goto oom;
  }
  if (!ps) {
    cli_printable(s.name);
    cli_printable(s.node);
    printf("name:     %s\nnode:     %s\ncreated:  %s\nupdated:  %s\nspec:\n", s.name, s.node,
           s.created, s.updated);
    print_spec_text(spec && spec->type == MSGPACK_OBJECT_MAP ? spec : NULL);
    printf("\ntasks:\n");
  }
  table_print(t, stdout);
  return 0;
oom:
  cli_err("out of memory");
  return CLI_EXIT_DAEMON;
}

static int service_rm(int argc, char **argv) {
  _cleanup_(wire_reply_freep) struct wire_reply *rep = NULL;
  struct simple_args a;
  char what[200], name[260];
  int r = simple_parse(argc, argv, true, &a);
  if (r != 0 || a.co.help)
    return r ? r : (cli_verb_usage(cli_verb_find("service"), stdout), 0);
  struct cli c = {.socket = cli_socket_path(a.co.socket)};
  snprintf(what, sizeof(what), "service rm %.64s", a.name);
  cli_printable(what);
  r = cli_call(&c, what, "no such service", WIRE_OP_SERVICE_RM, pack_name, (void *)a.name, &rep);
  cli_close(&c);
  if (r == 0) {
    snprintf(name, sizeof(name), "%s", a.name);
    cli_printable(name);
    printf("removed service %s\n", name);
  }
  return r;
}

int verb_service(int argc, char **argv) {
  if (argc < 2)
    return cli_usage_err("service", "missing sub-verb (one of %s)", SUBVERBS);
  const char *sub = argv[1];
  if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
    cli_verb_usage(cli_verb_find("service"), stdout);
    return 0;
  }
  if (!strcmp(sub, "create"))
    return service_create(argc - 1, argv + 1);
  if (!strcmp(sub, "ls"))
    return service_ls(argc - 1, argv + 1);
  if (!strcmp(sub, "inspect"))
    return service_inspect(argc - 1, argv + 1, false);
  if (!strcmp(sub, "ps"))
    return service_inspect(argc - 1, argv + 1, true);
  if (!strcmp(sub, "rm"))
    return service_rm(argc - 1, argv + 1);
  return cli_usage_err("service", "unknown sub-verb '%.64s' (one of %s)", sub, SUBVERBS);
}
