/*
 * secretd's logging: one line per event on stderr (journald adds the time
 * under systemd). Only daemon code logs; never pass a secret to these.
 */
#pragma once

__attribute__((format(printf, 1, 2))) void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_err(const char *fmt, ...);
/* Log "secretd: <what>: <sd_strerror(r)>" and return r (r is a negative errno or SD_E_*). */
int log_errno(int r, const char *what);
