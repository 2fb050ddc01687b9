/*
 * secret-image policy scan [--policy FILE] [--refuse-fixable SEVERITY|none]
 *                          [--max-age DURATION|none]
 * Edits the "scan" section of the trust policy file (scan_gate.h): with no
 * option it prints the section. Every other key of the file is kept as it
 * is; the new file is checked (scan_gate_parse) before it replaces the old
 * one atomically (temporary file, fsync, rename, fsync of the directory),
 * with the old file's mode (0644 for a new file).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/macro.h"
#include "image/scan_gate.h"

int secret_image_policy_scan_main(int argc, char **argv);

static int pfail(const char *msg, const char *arg) {
  fprintf(stderr, "secret-image: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
  return 1;
}

int secret_image_policy_scan_main(int argc, char **argv) {
  enum { O_POLICY = 256, O_REFUSE, O_AGE, O_STORE };
  static const struct option lo[] = {{"policy", required_argument, NULL, O_POLICY},
                                     {"refuse-fixable", required_argument, NULL, O_REFUSE},
                                     {"max-age", required_argument, NULL, O_AGE},
                                     {"store", required_argument, NULL, O_STORE},
                                     {NULL, 0, NULL, 0}};
  const char *policy = NULL, *refuse = NULL, *age = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_POLICY: policy = optarg; break;
    case O_REFUSE: refuse = optarg; break;
    case O_AGE: age = optarg; break;
    case O_STORE: break; /* a global option: not ours */
    default: return 2;
    }
  }
  if (argc - optind != 2) {
    fprintf(stderr, "usage: secret-image policy scan [--policy FILE] "
                    "[--refuse-fixable high|medium|low|unimportant|none] [--max-age DURATION|none]\n");
    return 2;
  }
  bool named;
  const char *path = scan_policy_path(policy, &named);
  struct img_err err = {0};
  json_object *root = NULL, *scan = NULL;
  int r = scan_policy_read(path, &root, &err);
  if (r == -ENOENT && (refuse || age))
    root = json_object_new_object();
  else if (r == -ENOENT)
    return pfail("no policy file", path);
  else if (r < 0)
    return pfail(err.msg, NULL);
  if (!refuse && !age) { /* show */
    json_object_object_get_ex(root, "scan", &scan);
    puts(scan ? json_object_to_json_string_ext(scan, JSON_C_TO_STRING_PRETTY) : "{}");
    json_object_put(root);
    return 0;
  }
  if (!json_object_object_get_ex(root, "scan", &scan) || !json_object_is_type(scan, json_type_object)) {
    scan = json_object_new_object();
    json_object_object_add(root, "scan", scan);
  }
  if (refuse) {
    if (!strcmp(refuse, "none"))
      json_object_object_del(scan, "refuse_fixable_at");
    else
      json_object_object_add(scan, "refuse_fixable_at", json_object_new_string(refuse));
  }
  if (age) {
    if (!strcmp(age, "none"))
      json_object_object_del(scan, "max_scan_age");
    else
      json_object_object_add(scan, "max_scan_age", json_object_new_string(age));
  }
  struct scan_gate g;
  if (scan_gate_parse(scan, &g, &err) < 0) {
    json_object_put(root);
    return pfail(err.msg, NULL);
  }
  /* write next to the file, keeping its mode */
  char dir[PATH_MAX], base[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  snprintf(base, sizeof base, "%s", path);
  struct stat st;
  int mode = stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : 0644;
  _cleanup_close_ int dfd = open(dirname(dir), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    json_object_put(root);
    return pfail(strerror(errno), dir);
  }
  size_t len;
  const char *text = json_object_to_json_string_length(
      root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
  char *out = malloc(len + 2);
  if (!out) {
    json_object_put(root);
    return pfail("out of memory", NULL);
  }
  memcpy(out, text, len);
  out[len++] = '\n';
  r = scan_write_file_at(dfd, basename(base), out, len, mode, &err);
  free(out);
  if (r < 0) {
    json_object_put(root);
    return pfail(err.msg, NULL);
  }
  printf("%s: scan %s\n", path, json_object_to_json_string_ext(scan, JSON_C_TO_STRING_PLAIN));
  json_object_put(root);
  return 0;
}
