# Fuzzing of runtime/'s parser: the Docker seccomp profile reader.
# With SECRETD_FUZZ (clang): a libFuzzer binary and a bounded run labelled
# "fuzz"; in every build: the same harness replaying the seed corpus. Seeds: the corpus
# in tests/fuzz/corpus/seccomp plus the five Debian peer profiles (SECRETD_PEERS_DIR).
set(SECCOMP_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/seccomp)
if(TARGET sdruntime)
  if(SECRETD_FUZZ)
    add_executable(fuzz_seccomp_profile fuzz/fuzz_seccomp_profile.c)
    target_link_libraries(fuzz_seccomp_profile PRIVATE sdruntime)
    target_link_options(fuzz_seccomp_profile PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz_seccomp_profile_bounded
             COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $3/*.json $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 $d"
                     $<TARGET_FILE:fuzz_seccomp_profile> ${SECCOMP_FUZZ_CORPUS} 45
                     ${SECRETD_PEERS_DIR})
    # libseccomp's own lost objects (see the file) are not ours to fail on.
    set_tests_properties(fuzz_seccomp_profile_bounded PROPERTIES LABELS fuzz TIMEOUT 300
        ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/lsan_libseccomp.supp")
  else()
    add_executable(fuzz_seccomp_profile_replay fuzz/fuzz_seccomp_profile.c fuzz/replay_main.c)
    target_link_libraries(fuzz_seccomp_profile_replay PRIVATE sdruntime)
    add_test(NAME fuzz_seccomp_profile_replay
             COMMAND fuzz_seccomp_profile_replay ${SECCOMP_FUZZ_CORPUS} ${SECRETD_PEERS_DIR})
  endif()
endif()
