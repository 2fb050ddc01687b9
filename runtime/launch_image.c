/*
 * secret-launch --image (see launch_image.h). Steps, all before the container
 * exists:
 *  1. pick --image/--store out of argv (the user's other options are passed on
 *     untouched, after ours, so that they win); --rootfs and --rootfs-writable
 *     are refused with --image (the stored tree must never be written);
 *  2. open the store, resolve the reference, mark the image in use (a shared
 *     flock on STORE/inuse/<hex>.<pid>.<n>, held until exit) and read its
 *     config, checked against the manifest digest;
 *  3. --rootfs is the stored rootfs: the launcher's own per-container layer
 *     (runtime/rootfs_layer.h: an overlay with the directory as its read-only
 *     lower layer and a size-limited tmpfs upper, --rootfs-size) keeps the
 *     stored tree unchanged. With --userns (or --uidmap/--gidmap) the stored
 *     rootfs is first covered, in a private mount namespace of the launcher, by
 *     an idmapped read-only mount of itself with the container's maps, so that
 *     the image's root-owned files belong to the container's root, as they do
 *     without a user namespace; the store stays owned by host root;
 *  4. the image's User is resolved in its own /etc/passwd and /etc/group.
 * Content trust (image/trust_check.h, docs/trust.md) runs in step 2, after the
 * image is resolved and marked, and for a --rootfs launch before anything
 * else: --policy FILE and --allow-stale are taken out of argv here, the
 * policy is loaded (refused if not root's), and with enforcement on a launch
 * that trust refuses ends with one line naming the reason. After the trust
 * check, launch_policy_scan_gate() gives the scan policy (the "scan" section
 * of the same file) its say.
 */
#include "runtime/launch_image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/macro.h"
#include "image/scan_gate.h"
#include "image/store.h"
#include "image/trust_check.h"
#include "image/trust_policy.h"
#include "image/user.h"
#include "runtime/launch.h" /* prog, die */
#include "runtime/runtime.h"
#include "runtime/userns.h"

static struct img_store *g_store;
static char g_marker[128];
static int g_marker_fd = -1;
static char g_rootfs[4400];
/* What the new argv points into lives as long as the process: held here so
 * that it stays reachable (LeakSanitizer) until exit. */
static struct img_config g_cfg;
static char *g_userarg;
static char **g_argv;
static bool *g_keep;
static struct trust_policy *g_policy;

/* The vulnerability launch policy (image/scan_gate.h), called after the
 * content-trust check allowed the launch of image hex (ref as the user gave
 * it), with the policy document the trust check used (one file, read once,
 * its ownership checked by trust_policy_load; the "scan" section is the scan
 * gate's to parse). Returns 0 to allow, or -1 after one line. */
static int launch_policy_scan_gate(json_object *policy, struct img_store *store, const char *hex,
                                   const char *ref) {
  struct img_err err = {0};
  if (scan_gate_check_root(policy, store, hex, (int64_t)time(NULL), &err) < 0)
    return die("--image %s: %s", ref, err.msg);
  return 0;
}

/* Load the trust policy (--policy, $SECRET_TRUST_POLICY, the default). No
 * file at the default path is an empty policy (enforcement off); a policy
 * named by --policy or the environment must exist (a typo must not turn
 * every check off). */
static int load_policy(const char *path) {
  struct img_err err = {0};
  const char *env = getenv(TRUST_POLICY_ENV), *file = trust_policy_path(path);
  if (trust_policy_load(file, &g_policy, &err) < 0)
    return die("content trust: %s", err.msg);
  if (!trust_policy_exists(g_policy) && ((path && *path) || (env && *env)))
    return die("content trust: the policy %s does not exist", file);
  return 0;
}

/* The image name a reference names ("" for a bare digest). */
static void ref_name(const char *ref, char name[IMG_MAX_NAME + 1]) {
  char version[129];
  const char *at = strchr(ref, '@');
  name[0] = '\0';
  if (!strncmp(ref, "sha256:", 7))
    return;
  if (at) {
    snprintf(name, IMG_MAX_NAME + 1, "%.*s", (int)(at - ref), ref);
    return;
  }
  if (img_ref_parse(ref, name, version) < 0)
    name[0] = '\0';
}

/* The trust decision for image hex: 0 to go on, or -1 after one line. */
static int trust_gate(const char *ref, const char *hex, bool allow_stale) {
  char name[IMG_MAX_NAME + 1];
  struct trust_decision d;
  struct img_err err = {0};
  ref_name(ref, name);
  int r = trust_check_image(g_store, g_policy, getenv(TRUST_ENFORCE_ENV), hex, name[0] ? name : NULL,
                            (int64_t)time(NULL), allow_stale, &d, &err);
  if (r < 0)
    return die("content trust: --image %s: %s", ref, err.msg);
  if (!d.allowed)
    return die("content trust: --image %s refused: %s", ref, d.message);
  if (d.warning[0])
    fprintf(stderr, "%s: content trust: %s\n", prog, d.warning);
  return launch_policy_scan_gate(trust_policy_json(g_policy), g_store, hex, ref);
}


/* Remove our use marker unless a fork of ours (a detached container's
 * supervisor) still holds it: then it stays, and gc removes it once that
 * process is gone. */
static void at_exit(void) {
  if (!g_store || !g_marker[0])
    return;
  if (g_marker_fd >= 0)
    close(g_marker_fd);
  char p[160];
  snprintf(p, sizeof p, "inuse/%s", g_marker);
  _cleanup_close_ int fd = openat(img_store_fd(g_store), p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
    img_store_unmark(g_store, g_marker);
}

/* Value of "--opt V" or "--opt=V" at argv[*i]; advances *i. NULL if no match. */
static const char *opt_value(char **argv, int argc, int *i, const char *opt) {
  size_t n = strlen(opt);
  if (strncmp(argv[*i], opt, n))
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n] || *i + 1 >= argc)
    return NULL;
  return argv[++*i];
}

struct maps {
  bool userns;
  struct rt_idmap uid[RT_MAX_IDMAPS], gid[RT_MAX_IDMAPS];
  size_t nu, ng;
};

/* A user namespace with the container's maps, held by a child that waits on a
 * pipe; returns an fd of it (the child is reaped before returning). */
static int userns_fd(const struct maps *m) {
  static const struct rt_idmap def = {0, RT_DEFAULT_IDMAP_OUTSIDE, RT_DEFAULT_IDMAP_COUNT};
  int ready[2], hold[2], fd = -1;
  if (pipe2(ready, O_CLOEXEC) < 0)
    return -errno;
  if (pipe2(hold, O_CLOEXEC) < 0) {
    close(ready[0]), close(ready[1]);
    return -errno;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fd = -errno;
    goto out;
  }
  if (pid == 0) {
    char c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1)
      _exit(1);
    close(hold[1]);
    (void)!read(hold[0], &c, 1);
    _exit(0);
  }
  char c = 'n';
  close(ready[1]);
  ready[1] = -1;
  if (read(ready[0], &c, 1) != 1 || c != 'y') {
    fd = -EPERM;
  } else {
    int r = rt_userns_write_maps(pid, m->nu ? m->uid : &def, m->nu ? m->nu : 1,
                                 m->ng ? m->gid : &def, m->ng ? m->ng : 1);
    if (r < 0) {
      fd = r;
    } else {
      char p[64];
      snprintf(p, sizeof p, "/proc/%d/ns/user", (int)pid);
      fd = open(p, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        fd = -errno;
    }
  }
  close(hold[1]);
  hold[1] = -1;
  waitpid(pid, NULL, 0);
out:
  for (int i = 0; i < 2; i++) {
    if (ready[i] >= 0)
      close(ready[i]);
    if (hold[i] >= 0)
      close(hold[i]);
  }
  return fd;
}

/* Mount an idmapped, read-only clone of lower at target. */
static int idmapped_lower(const char *lower, const char *target, const struct maps *m) {
  _cleanup_close_ int us = userns_fd(m);
  if (us < 0)
    return die("--image --userns: a user namespace for the idmapped layer: %s", strerror(-us));
  _cleanup_close_ int tree = open_tree(AT_FDCWD, lower, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0)
    return die("--image --userns: open_tree %s: %s", lower, strerror(errno));
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV,
                            .userns_fd = (uint64_t)us};
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return die("--image --userns: idmapped mount of %s: %s", lower, strerror(errno));
  if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return die("--image --userns: mounting the idmapped layer: %s", strerror(errno));
  return 0;
}

/* --userns: cover the stored rootfs, in a private mount namespace of ours
 * (gone with us and our children, even after SIGKILL), with an idmapped
 * read-only mount of itself. */
static int idmap_rootfs(const char *rootfs, const struct maps *m) {
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return die("--image: private mount namespace: %s", strerror(errno));
  return idmapped_lower(rootfs, rootfs, m);
}

int launch_image_marker_fd(void) { return g_marker_fd; }

int launch_image_args(int *argcp, char ***argvp) {
  int argc = *argcp;
  char **argv = *argvp;
  const char *ref = NULL, *store = NULL, *policy = NULL, *rootfs = NULL, *v;
  bool has_user = false, has_workdir = false, has_rootfs = false, allow_stale = false, ours = false;
  struct maps maps = {0};
  int dashdash = argc;
  char **user_env[64];
  size_t n_user_env = 0;
  bool *keep = g_keep = calloc((size_t)argc, sizeof *keep);
  if (!keep)
    return die("out of memory");

  /* 1 */
  for (int i = 1; i < argc; i++) {
    int start = i;
    if (!strcmp(argv[i], "--")) {
      dashdash = i;
      break;
    }
    if ((v = opt_value(argv, argc, &i, "--image"))) {
      ref = v;
      continue;
    }
    if ((v = opt_value(argv, argc, &i, "--store"))) {
      store = v;
      continue;
    }
    if ((v = opt_value(argv, argc, &i, "--policy"))) {
      policy = v;
      ours = true;
      continue;
    }
    if (!strcmp(argv[i], "--allow-stale")) {
      allow_stale = ours = true;
      continue;
    }
    if ((v = opt_value(argv, argc, &i, "--rootfs")))
      rootfs = v, i = start; /* looked at, not consumed: the launcher parses it */
    for (int j = start; j <= i; j++)
      keep[j] = true;
    if (!strcmp(argv[i], "--user") || !strncmp(argv[i], "--user=", 7))
      has_user = true;
    if (!strcmp(argv[i], "--workdir") || !strncmp(argv[i], "--workdir=", 10))
      has_workdir = true;
    if (!strcmp(argv[i], "--rootfs") || !strncmp(argv[i], "--rootfs=", 9) ||
        !strcmp(argv[i], "--rootfs-writable"))
      has_rootfs = true;
    if (!strcmp(argv[i], "--userns"))
      maps.userns = true;
    for (int u = 0; u < 2; u++) {
      const char *o = u ? "--gidmap" : "--uidmap";
      size_t *n = u ? &maps.ng : &maps.nu;
      struct rt_idmap *mm = u ? maps.gid : maps.uid;
      int j = i;
      const char *mv = opt_value(argv, argc, &j, o);
      if (!mv)
        continue;
      maps.userns = true;
      if (*n < RT_MAX_IDMAPS && rt_idmap_parse(mv, &mm[*n]) == 0)
        (*n)++; /* a malformed map is the launcher's to refuse */
    }
    if (!strcmp(argv[i], "--env") && i + 1 < argc && n_user_env < ARRAY_SIZE(user_env))
      user_env[n_user_env++] = &argv[i + 1];
    else if (!strncmp(argv[i], "--env=", 6) && n_user_env < ARRAY_SIZE(user_env))
      user_env[n_user_env++] = &argv[i];
  }
  if (!ref) {
    /* a directory: with content trust enforced, refused */
    bool verb = argc > 1 && is_verb(argv[1]);
    if (!verb && has_rootfs) {
      struct trust_decision d;
      if (load_policy(policy) < 0)
        return -1;
      trust_check_rootfs(g_policy, getenv(TRUST_ENFORCE_ENV), img_store_path(store), rootfs, &d);
      if (!d.allowed)
        return die("content trust: --rootfs refused: %s", d.message);
    }
    if (ours || store) { /* take our options out of the launcher's argv */
      char **nv = g_argv = calloc((size_t)argc + 1, sizeof *nv);
      if (!nv)
        return die("out of memory");
      int k = 0;
      nv[k++] = argv[0];
      for (int i = 1; i < argc; i++)
        if (i >= dashdash || keep[i])
          nv[k++] = argv[i];
      nv[k] = NULL;
      *argcp = k;
      *argvp = nv;
    }
    free(keep);
    g_keep = NULL;
    return 0;
  }
  if (has_rootfs)
    return die("--image excludes --rootfs and --rootfs-writable (the stored image is never "
               "written: each container gets a layer of its own, sized by --rootfs-size)");

  /* 2 */
  if (sodium_init() < 0)
    return die("libsodium failed to initialise");
  struct img_err err = {0};
  char hex[IMG_HEX_LEN + 1];
  if (img_store_open(img_store_path(store), false, &g_store, &err) < 0)
    return die("--image: %s", err.msg);
  if (img_store_resolve(g_store, ref, hex, &err) < 0)
    return die("--image: %s", err.msg);
  g_marker_fd = img_store_mark_in_use(g_store, hex, g_marker);
  if (g_marker_fd < 0)
    return die("--image %s: marking the image in use: %s", ref, strerror(-g_marker_fd));
  atexit(at_exit);
  if (img_store_config(g_store, hex, &g_cfg, &err) < 0)
    return die("--image: %s", err.msg);
  if (load_policy(policy) < 0 || trust_gate(ref, hex, allow_stale) < 0)
    return -1;

  /* 3 */
  char *lower = g_rootfs;
  snprintf(g_rootfs, sizeof g_rootfs, "%s/images/%s/rootfs", img_store_dir(g_store), hex);
  if (maps.userns && idmap_rootfs(g_rootfs, &maps) < 0)
    return -1;

  /* 4 */
  if (!has_user && g_cfg.user) {
    _cleanup_close_ int rootfd = open(lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    uid_t uid;
    gid_t gid;
    int r = rootfd < 0 ? -errno : img_user_resolve(rootfd, g_cfg.user, &uid, &gid);
    if (r < 0)
      return die("--image %s: the image's User \"%s\": %s", ref, g_cfg.user,
                 r == -ENOENT ? "not found in the image's /etc/passwd or /etc/group"
                              : strerror(-r));
    if (asprintf(&g_userarg, "%u:%u", (unsigned)uid, (unsigned)gid) < 0)
      return die("out of memory");
  }

  /* the new vector */
  size_t n_cmd = argc > dashdash ? (size_t)(argc - dashdash - 1) : 0;
  size_t max = (size_t)argc + 8 + 2 * g_cfg.env.n + g_cfg.entrypoint.n + g_cfg.cmd.n + 1;
  char **nv = g_argv = calloc(max, sizeof *nv);
  if (!nv)
    return die("out of memory");
  size_t k = 0;
  nv[k++] = argv[0];
  int first = 1;
  if (argc > 1 && !strcmp(argv[1], "run")) /* the verb stays first */
    nv[k++] = argv[first++];
  nv[k++] = "--rootfs";
  nv[k++] = g_rootfs;
  for (size_t i = 0; i < g_cfg.env.n; i++) {
    const char *e = g_cfg.env.v[i];
    size_t klen = (size_t)(strchr(e, '=') - e);
    bool overridden = false;
    for (size_t j = 0; j < n_user_env; j++) {
      const char *u = *user_env[j];
      if (!strncmp(u, "--env=", 6))
        u += 6;
      overridden |= !strncmp(u, e, klen) && u[klen] == '=';
    }
    if (!overridden) {
      nv[k++] = "--env";
      nv[k++] = g_cfg.env.v[i];
    }
  }
  if (g_userarg) {
    nv[k++] = "--user";
    nv[k++] = g_userarg;
  }
  if (!has_workdir && g_cfg.workdir) {
    if (g_cfg.workdir[0] != '/')
      return die("--image %s: the image's WorkingDir \"%s\" is not absolute", ref, g_cfg.workdir);
    nv[k++] = "--workdir";
    nv[k++] = g_cfg.workdir;
  }
  for (int i = first; i < dashdash; i++)
    if (keep[i])
      nv[k++] = argv[i];
  nv[k++] = "--";
  for (size_t i = 0; i < g_cfg.entrypoint.n; i++)
    nv[k++] = g_cfg.entrypoint.v[i];
  if (n_cmd)
    for (size_t i = 0; i < n_cmd; i++)
      nv[k++] = argv[dashdash + 1 + i];
  else
    for (size_t i = 0; i < g_cfg.cmd.n; i++)
      nv[k++] = g_cfg.cmd.v[i];
  if (g_cfg.entrypoint.n == 0 && n_cmd == 0 && g_cfg.cmd.n == 0)
    return die("--image %s: the image has no Entrypoint or Cmd: give a command after --", ref);
  nv[k] = NULL;
  free(keep);
  g_keep = NULL;
  *argcp = (int)k;
  *argvp = nv;
  return 0;
}
