/*
 * Input rules shared by the store and the daemon (issue 2, item 7). Each
 * returns 0 or the SD_E_* code naming the rule that failed. Pure functions,
 * thread-safe, no allocation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h" /* SD_NAME_MAX, SD_VALUE_MAX, SD_LABELS_MAX, ... */

#define SD_GRANT_DEFAULT_MODE 0400

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,63} (secret, service and label key names).
 * NULL -> SD_E_NAME. */
int store_validate_name(const char *name);
/* 1..SD_VALUE_MAX bytes -> 0, else SD_E_VALUE. */
int store_validate_value_len(size_t len);
/* Relative path of 1..255 bytes (len bytes given; an embedded NUL is refused),
 * no leading or trailing '/', no empty, "." or ".." component, no control
 * characters. -> 0 or SD_E_TARGET. */
int store_validate_target(const char *target, size_t len);
/* <= 0777 -> 0, else SD_E_MODE. */
int store_validate_mode(uint32_t mode);
/* Any id but (uint32_t)-1 -> 0, else -EINVAL. */
int store_validate_id(uint32_t id);
/* Label value: <= 255 bytes, no NUL within len, printable-or-UTF-8 bytes
 * (no control chars). -> 0 or -EINVAL. */
int store_validate_label_value(const char *v, size_t len);
/* True if s is exactly 32 lower- or upper-case hex characters. */
bool store_is_hex_id(const char *s);
