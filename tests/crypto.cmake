# crypto/ unit tests (owned with crypto/).
if(TARGET sdcrypto)
  secretd_unit_test(test_crypto_envelope LIBS sdcrypto)
  secretd_unit_test(test_crypto_keys LIBS sdcrypto)
endif()
