# store/ unit tests (owned with store/): real LMDB files in mkdtemp dirs.
if(TARGET sdstore)
  foreach(t validate ops audit full tamper)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_store_${t}.c)
      secretd_unit_test(test_store_${t} LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
    endif()
  endforeach()
endif()

# Helper of daemon_verify.sh: a long audit chain made in-process.
if(TARGET sdstore)
  add_executable(store_audit_fill store_audit_fill.c)
  target_link_libraries(store_audit_fill PRIVATE sdstore)
endif()

# Fuzzing of the audit file's tail parser (store/audit.c), like the wire
# harnesses: a libFuzzer binary in SECRETD_FUZZ builds and a replay of the
# seed corpus in every build.
if(TARGET sdstore)
  set(AUDIT_TAIL_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/audit_tail)
  if(SECRETD_FUZZ)
    add_executable(fuzz_audit_tail fuzz/fuzz_audit_tail.c)
    target_compile_options(fuzz_audit_tail PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_audit_tail PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_audit_tail PRIVATE sdstore)
  endif()
  add_executable(fuzz_audit_tail_replay fuzz/fuzz_audit_tail.c fuzz/replay_main.c)
  target_link_libraries(fuzz_audit_tail_replay PRIVATE sdstore)
  add_test(NAME fuzz_audit_tail_replay COMMAND fuzz_audit_tail_replay ${AUDIT_TAIL_CORPUS})
  set_tests_properties(fuzz_audit_tail_replay PROPERTIES LABELS "unit;store")
endif()
