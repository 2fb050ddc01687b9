/* Private helpers of crypto/. */
#pragma once

/* sodium_init() once per process; returns 0 or -EIO. Thread-safe. */
int sd_crypto_init(void);
