/* Option parsing shared by the verbs: getopt_long reset, the common options
 * (--socket, --help, --json) and one-line usage errors. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"

void cli_getopt_reset(void) {
  optind = 0; /* glibc: 0 re-initialises the scanner (also its permutation state) */
  opterr = 0;
}

bool cli_common_opt(int c, const char *arg, struct cli_common *co) {
  switch (c) {
  case OPT_SOCKET:
    co->socket = arg;
    return true;
  case 'h':
    co->help = true;
    return true;
  case OPT_JSON:
    co->json = true;
    return true;
  default:
    return false;
  }
}

int cli_usage_err(const char *verb, const char *fmt, ...) {
  char suffix[80];
  va_list ap;
  if (verb)
    snprintf(suffix, sizeof(suffix), " (see 'secret %s --help')", verb);
  else
    snprintf(suffix, sizeof(suffix), " (see 'secret --help')");
  va_start(ap, fmt);
  cli_err_line(verb, suffix, fmt, ap);
  va_end(ap);
  return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *verb, int c, int optopt_val, char **argv, int optind_val) {
  const char *what = c == ':' ? "option '%.*s' needs a value" : "unknown option '%.*s'";
  /* Long options have values >= 256 (or 0 when unknown); their argv element
   * has been consumed. A short option is named by optopt. */
  if ((optopt_val == 0 || optopt_val >= 256) && optind_val > 0) {
    const char *o = argv[optind_val - 1];
    const char *eq = strchr(o, '=');
    int n = eq ? (int)(eq - o) : (int)strlen(o);
    if (n > 64)
      n = 64;
    return cli_usage_err(verb, what, n, o);
  }
  char s[3] = {'-', (char)optopt_val, 0};
  if (optopt_val < 0x21 || optopt_val > 0x7e)
    s[1] = '?';
  return cli_usage_err(verb, what, 2, s);
}

int cli_positionals(const char *verb, int argc, char **argv, int first, size_t min, size_t max,
                    const char *const *names, const char **out) {
  size_t n = first < argc ? (size_t)(argc - first) : 0;
  for (size_t i = 0; i < max; i++)
    out[i] = i < n ? argv[first + (int)i] : NULL;
  if (n < min)
    return cli_usage_err(verb, "missing %s", names[n]);
  if (n > max)
    return cli_usage_err(verb, "unexpected argument '%.64s'", argv[first + (int)max]);
  for (size_t i = 0; i < n; i++)
    if (!*out[i])
      return cli_usage_err(verb, "%s is empty", names[i]);
  return 0;
}

int cli_parsed(const char *verb, int r, bool help) {
  if (r == 0 && help)
    cli_verb_usage(cli_verb_find(verb), stdout);
  return r;
}
