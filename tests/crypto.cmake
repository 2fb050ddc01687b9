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

# Fuzzing of crypto/'s parsers: the join-token parser and the CA's CSR
# acceptance path (ca_issue, ca_pop_verify). In every build, *_replay runs
# the seed corpus once (under the build's sanitizers, if any); with
# SECRETD_FUZZ (clang), a libFuzzer binary and a bounded run (20 s each)
# over a temporary copy of the seeds, labelled "fuzz".
if(TARGET sdcrypto)
  foreach(h join_token csr)
    set(_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${h})
    if(SECRETD_FUZZ)
      add_executable(fuzz_${h} fuzz/fuzz_${h}.c)
      target_link_libraries(fuzz_${h} PRIVATE sdcrypto)
      target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
      add_test(NAME fuzz_${h}_bounded
               COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=8192 $d"
                       $<TARGET_FILE:fuzz_${h}> ${_corpus} 20)
      set_tests_properties(fuzz_${h}_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
    endif()
    add_executable(fuzz_${h}_replay fuzz/fuzz_${h}.c fuzz/replay_main.c)
    target_link_libraries(fuzz_${h}_replay PRIVATE sdcrypto)
    add_test(NAME fuzz_${h}_replay COMMAND fuzz_${h}_replay ${_corpus})
    set_tests_properties(fuzz_${h}_replay PROPERTIES LABELS "unit;crypto")
  endforeach()
endif()
