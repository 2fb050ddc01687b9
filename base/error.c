#include "error.h"

#include <string.h>

static const char *const domain_messages[] = {
    [-SD_E_SCHEMA - SD_ERR_BASE] = "store schema version does not match this secretd",
    [-SD_E_DECRYPT - SD_ERR_BASE] = "ciphertext failed authentication",
    [-SD_E_BADKEY - SD_ERR_BASE] = "wrong unlock key",
    [-SD_E_PROTO - SD_ERR_BASE] = "malformed protocol message",
    [-SD_E_LOCKED - SD_ERR_BASE] = "store is in use by another secretd",
    [-SD_E_CHAIN - SD_ERR_BASE] = "audit chain does not verify",
    [-SD_E_GRANTED - SD_ERR_BASE] = "secret is still granted (use --force)",
    [-SD_E_NAME - SD_ERR_BASE] = "invalid name (want [A-Za-z0-9][A-Za-z0-9_.-]{0,63})",
    [-SD_E_VALUE - SD_ERR_BASE] = "invalid secret value (1 byte to 500 KiB)",
    [-SD_E_TARGET - SD_ERR_BASE] = "invalid target (relative path below /run/secrets, at most 255 bytes, no '..')",
    [-SD_E_MODE - SD_ERR_BASE] = "invalid mode (octal, at most 0777)",
    [-SD_E_MAPFULL - SD_ERR_BASE] = "store is full (raise --map-size)",
    [-SD_E_DENIED - SD_ERR_BASE] = "permission denied",
    [-SD_E_NOSTORE - SD_ERR_BASE] = "directory holds no secretd store",
    [-SD_E_EXISTS - SD_ERR_BASE] = "directory already holds a secretd store",
    [-SD_E_UNSUPPORTED - SD_ERR_BASE] = "operation not supported by this peer",
    [-SD_E_RESOLVE - SD_ERR_BASE] = "host name does not resolve to an address",
};

const char *sd_strerror(int r) {
  if (r >= 0)
    return "success";
  if (sd_is_domain_error(r)) {
    const char *m = domain_messages[-r - SD_ERR_BASE];
    return m ? m : "unknown error";
  }
  if (r <= -SD_ERR_BASE)
    return "unknown error";
  /* strerror() with a valid errno returns a static string in glibc. */
  return strerror(-r);
}
