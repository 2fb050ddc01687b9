/*
 * One error convention for the whole project: functions return 0 (or a count)
 * on success and a negative errno on failure. Errors of our own domain live in
 * a band below -4095 so they never collide with errno values. sd_strerror()
 * maps both; it never allocates and never returns NULL.
 */
#pragma once

#define SD_ERR_BASE 5000

enum sd_error {
  SD_E_SCHEMA = -(SD_ERR_BASE + 1),   /* store schema version does not match */
  SD_E_DECRYPT = -(SD_ERR_BASE + 2),  /* authentication of a ciphertext failed */
  SD_E_BADKEY = -(SD_ERR_BASE + 3),   /* wrong unlock key */
  SD_E_PROTO = -(SD_ERR_BASE + 4),    /* malformed or unexpected protocol message */
  SD_E_LOCKED = -(SD_ERR_BASE + 5),   /* store is in use by another secretd */
  SD_E_CHAIN = -(SD_ERR_BASE + 6),    /* audit chain does not verify */
  SD_E_GRANTED = -(SD_ERR_BASE + 7),  /* secret still has grants */
  SD_E_NAME = -(SD_ERR_BASE + 8),     /* invalid name */
  SD_E_VALUE = -(SD_ERR_BASE + 9),    /* invalid secret value (size) */
  SD_E_TARGET = -(SD_ERR_BASE + 10),  /* invalid grant target path */
  SD_E_MODE = -(SD_ERR_BASE + 11),    /* invalid file mode */
  SD_E_MAPFULL = -(SD_ERR_BASE + 12), /* store map is full */
  SD_E_DENIED = -(SD_ERR_BASE + 13),  /* peer not authorized */
  SD_E_NOSTORE = -(SD_ERR_BASE + 14), /* directory holds no store */
  SD_E_EXISTS = -(SD_ERR_BASE + 15),  /* directory already holds a store */
  SD_E_UNSUPPORTED = -(SD_ERR_BASE + 16), /* operation this peer does not know (a newer peer's) */
  SD_E_RESOLVE = -(SD_ERR_BASE + 17), /* a host name that does not resolve */
  SD_E_LAST = -(SD_ERR_BASE + 18),
};

static inline int sd_is_domain_error(int r) { return r <= -SD_ERR_BASE && r > SD_E_LAST; }

/* A static, human string for r (negative errno or SD_E_*). */
const char *sd_strerror(int r);
