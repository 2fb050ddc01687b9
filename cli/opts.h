/* Long option values and the common option table entries of the verbs
 * (private to cli/). Long-only options use values >= 256 so that
 * cli_bad_option() can tell them from short ones. */
#pragma once

#include <getopt.h>

enum {
  OPT_SOCKET = 256,
  OPT_JSON,
  OPT_LABEL,
  OPT_FORCE,
  OPT_SERVICE,
  OPT_TARGET,
  OPT_UID,
  OPT_GID,
  OPT_MODE,
  OPT_SINCE,
  OPT_VERIFY,
  OPT_EXPECT_HEAD,
  OPT_PAGE_SIZE,
  OPT_VERSION,
};

/* Short options: only -h. The leading ':' reports a missing value as ':'. */
#define CLI_SHORTOPTS ":h"
#define CLI_COMMON_LONGOPTS                                                                        \
  {"socket", required_argument, NULL, OPT_SOCKET}, { "help", no_argument, NULL, 'h' }
#define CLI_JSON_LONGOPT {"json", no_argument, NULL, OPT_JSON}
#define CLI_PAGE_SIZE_LONGOPT {"page-size", required_argument, NULL, OPT_PAGE_SIZE}
#define CLI_LONGOPTS_END {NULL, 0, NULL, 0}
