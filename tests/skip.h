/*
 * Skips that show: sd_skip(feature, fmt, ...) prints "SKIP[feature]: reason" and skips
 * the current cmocka test. tests/harness/run_unit.sh makes ctest report the binary as skipped,
 * and scripts/test.sh accepts the skip only if tests/allowed_skips lists
 * "<test>/<case> <feature>" and tests/harness/host_feature.sh says this host lacks <feature>.
 * Include after <cmocka.h>.
 */
#pragma once

#include <stdio.h>

#define sd_skip(feature, ...)                  \
  do {                                         \
    printf("SKIP[%s]: ", (feature));           \
    printf(__VA_ARGS__);                       \
    printf("\n");                              \
    fflush(stdout);                            \
    skip();                                    \
  } while (0)
