#include "store/validate.h"

#include <errno.h>
#include <string.h>

#include "base/error.h"

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int store_validate_name(const char *name) {
  if (!name || !is_alnum(name[0]))
    return SD_E_NAME;
  size_t i = 1;
  for (; name[i]; i++) {
    char c = name[i];
    if (i >= SD_NAME_MAX)
      return SD_E_NAME;
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
      return SD_E_NAME;
  }
  return 0;
}

int store_validate_value_len(size_t len) {
  return len >= 1 && len <= SD_VALUE_MAX ? 0 : SD_E_VALUE;
}

int store_validate_target(const char *target, size_t len) {
  if (!target || len == 0 || len > SD_TARGET_MAX)
    return SD_E_TARGET;
  if (memchr(target, '\0', len))
    return SD_E_TARGET;
  if (target[0] == '/' || target[len - 1] == '/')
    return SD_E_TARGET;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && target[i] != '/')
      continue;
    size_t clen = i - start;
    if (clen == 0)
      return SD_E_TARGET; /* "a//b" */
    if (clen == 2 && target[start] == '.' && target[start + 1] == '.')
      return SD_E_TARGET;
    if (clen == 1 && target[start] == '.')
      return SD_E_TARGET; /* "./x" is just confusing */
    start = i + 1;
  }
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)target[i] < 0x20 || target[i] == 0x7f)
      return SD_E_TARGET;
  return 0;
}

int store_validate_mode(uint32_t mode) { return mode <= 0777 ? 0 : SD_E_MODE; }

int store_validate_id(uint32_t id) { return id == UINT32_MAX ? -EINVAL : 0; }

int store_validate_label_value(const char *v, size_t len) {
  if (!v || len > SD_LABEL_VALUE_MAX)
    return -EINVAL;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return -EINVAL;
  return 0;
}

bool store_is_hex_id(const char *s) {
  if (!s)
    return false;
  size_t i = 0;
  for (; s[i]; i++) {
    char c = s[i];
    if (i >= 32)
      return false;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
      return false;
  }
  return i == 32;
}
