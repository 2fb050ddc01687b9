# store/ unit tests (owned with store/): real LMDB files in mkdtemp dirs.
if(TARGET sdstore)
  foreach(t validate ops audit full tamper page migrate rdtxn recmac dkcache savepoint)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_store_${t}.c)
      secretd_unit_test(test_store_${t} LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
    endif()
  endforeach()
  # A batch whose record copy cannot grow: realloc failure injected by --wrap.
  secretd_unit_test(test_store_batch_oom LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
  target_link_options(test_store_batch_oom PRIVATE -Wl,--wrap=realloc)
endif()

# Helper of daemon_verify.sh: a long audit chain made in-process.
if(TARGET sdstore)
  add_executable(store_audit_fill store_audit_fill.c)
  target_link_libraries(store_audit_fill PRIVATE sdstore)
  # and of daemon_paging.sh: many secrets made in-process
  add_executable(store_secret_fill store_secret_fill.c)
  target_link_libraries(store_secret_fill PRIVATE sdstore)
endif()

# Fuzzing of the audit file's tail parser (store/audit.c), like the runtime's
# harness: with SECRETD_FUZZ (clang) a libFuzzer binary and a bounded run
# labelled "fuzz"; in every other build the harness replaying the seed corpus.
if(TARGET sdstore)
  set(AUDIT_TAIL_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/audit_tail)
  if(SECRETD_FUZZ)
    add_executable(fuzz_audit_tail fuzz/fuzz_audit_tail.c)
    target_link_libraries(fuzz_audit_tail PRIVATE sdstore)
    target_link_options(fuzz_audit_tail PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz_audit_tail_bounded
             COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=12000 $d"
                     $<TARGET_FILE:fuzz_audit_tail> ${AUDIT_TAIL_CORPUS} 30)
    set_tests_properties(fuzz_audit_tail_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
  else()
    add_executable(fuzz_audit_tail_replay fuzz/fuzz_audit_tail.c fuzz/replay_main.c)
    target_link_libraries(fuzz_audit_tail_replay PRIVATE sdstore)
    add_test(NAME fuzz_audit_tail_replay COMMAND fuzz_audit_tail_replay ${AUDIT_TAIL_CORPUS})
    set_tests_properties(fuzz_audit_tail_replay PROPERTIES LABELS "unit;store")
  endif()
endif()

# Fuzzing of the version-record layout parser (store/records.c), which reads
# a record's bytes before its tag is checked; same pattern as above.
if(TARGET sdstore)
  set(STORE_VERSION_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/store_version)
  if(SECRETD_FUZZ)
    add_executable(fuzz_store_version fuzz/fuzz_store_version.c)
    target_link_libraries(fuzz_store_version PRIVATE sdstore)
    target_link_options(fuzz_store_version PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz_store_version_bounded
             COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=70000 $d"
                     $<TARGET_FILE:fuzz_store_version> ${STORE_VERSION_CORPUS} 30)
    set_tests_properties(fuzz_store_version_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
  else()
    add_executable(fuzz_store_version_replay fuzz/fuzz_store_version.c fuzz/replay_main.c)
    target_link_libraries(fuzz_store_version_replay PRIVATE sdstore)
    add_test(NAME fuzz_store_version_replay COMMAND fuzz_store_version_replay ${STORE_VERSION_CORPUS})
    set_tests_properties(fuzz_store_version_replay PROPERTIES LABELS "unit;store")
  endif()
endif()
