/*
 * The input limits every part agrees on (store rules, wire schema, daemon,
 * CLI): one definition each. The store enforces the full rules
 * (store/validate.h); the others only use these numbers.
 */
#pragma once

#define SD_NAME_MAX 64            /* secret, service and label-key names */
#define SD_VALUE_MAX 512000       /* bytes of one secret value (500 KiB) */
#define SD_LABELS_MAX 32          /* labels of one secret */
#define SD_LABEL_VALUE_MAX 255    /* bytes of one label value */
#define SD_TARGET_MAX 255         /* bytes of a grant's target path */
