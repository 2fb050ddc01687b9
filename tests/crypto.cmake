# crypto/ unit tests (owned with crypto/).
if(TARGET sdcrypto)
  secretd_unit_test(test_crypto_envelope LIBS sdcrypto)
  secretd_unit_test(test_crypto_keys LIBS sdcrypto)
endif()
# The cluster CA and join tokens (crypto/ca.c, crypto/join_token.c; issue 9).
if(TARGET sdcrypto)
  secretd_unit_test(test_crypto_ca LIBS sdcrypto)
  secretd_unit_test(test_crypto_join_token LIBS sdcrypto)
endif()
