/*
 * A throw-away P-256 PKI for tests and benchmarks of the TLS transport:
 * certificates and keys generated with the OpenSSL API into a directory the
 * caller owns (a mktemp -d). Never for production keys: the keys are written
 * unencrypted.
 */
#pragma once

#include <stdbool.h>

enum tls_pki_kind {
  TLS_PKI_SERVER = 1, /* EKU serverAuth, SAN DNS:localhost, IP:127.0.0.1 */
  TLS_PKI_CLIENT = 2, /* EKU clientAuth */
};

/* A self-signed root CA: DIR/NAME.pem and DIR/NAME.key. 0 or -EIO/-ENOMEM. */
int tls_pki_ca(const char *dir, const char *name);

/*
 * A leaf certificate signed by the CA DIR/CA.{pem,key}, with common name
 * NAME, written to DIR/NAME.pem and DIR/NAME.key, valid from now-60 s to
 * now+valid_s. 0 or -EIO/-ENOMEM.
 */
int tls_pki_leaf(const char *dir, const char *ca, const char *name, enum tls_pki_kind kind,
                 long valid_s);

/* snprintf of DIR/NAME.EXT into a static rotating buffer (8 slots). */
const char *tls_pki_path(const char *dir, const char *name, const char *ext);
