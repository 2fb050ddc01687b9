# Fuzzing of wire/ (owner: wire/): the frame reader, the validating decoder
# and the request/response schema.
# - SECRETD_FUZZ (clang): fuzz_wire, a libFuzzer binary with the wire sources
#   compiled in with coverage, ASan and UBSan, and a bounded run (60 s) over a
#   temporary copy of the seed corpus, labelled "fuzz".
# - every build: fuzz_wire_replay, the same harness with a main() that runs
#   each corpus file once (under the sanitizers of the build, if any).
# tests/fuzz/gen_wire_corpus.c regenerates the seeds: gen_wire_corpus DIR.
set(WIRE_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/wire)
set(WIRE_FUZZ_SOURCES ${CMAKE_SOURCE_DIR}/wire/frame.c ${CMAKE_SOURCE_DIR}/wire/msg.c
                      ${CMAKE_SOURCE_DIR}/wire/proto.c)
if(TARGET sdwire)
  if(SECRETD_FUZZ)
    add_executable(fuzz_wire fuzz/fuzz_wire.c ${WIRE_FUZZ_SOURCES})
    target_include_directories(fuzz_wire PRIVATE ${CMAKE_SOURCE_DIR})
    target_compile_options(fuzz_wire PRIVATE -fsanitize=fuzzer,address,undefined
                           -fno-sanitize-recover=all -U_FORTIFY_SOURCE)
    target_link_options(fuzz_wire PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_wire PRIVATE sdbase PkgConfig::MSGPACK PkgConfig::SODIUM)
    add_test(NAME fuzz_wire_bounded
             COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=8192 $d"
                     $<TARGET_FILE:fuzz_wire> ${WIRE_FUZZ_CORPUS} 60)
    set_tests_properties(fuzz_wire_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
  endif()
  add_executable(fuzz_wire_replay fuzz/fuzz_wire.c fuzz/replay_main.c)
  target_link_libraries(fuzz_wire_replay PRIVATE sdwire)
  add_test(NAME fuzz_wire_replay COMMAND fuzz_wire_replay ${WIRE_FUZZ_CORPUS})
  set_tests_properties(fuzz_wire_replay PROPERTIES LABELS "unit;wire")
  add_executable(gen_wire_corpus EXCLUDE_FROM_ALL fuzz/gen_wire_corpus.c)
  target_link_libraries(gen_wire_corpus PRIVATE sdwire)
endif()

# Sessions (owner: wire/session*.c): the session-message decoder (hello,
# push, ack, heartbeat) and the server end of a session fed random bytes
# after a valid hello, registered like fuzz_wire above (bounded runs of 45 s
# with SECRETD_FUZZ; replays of the seeds in every build).
set(SESSION_FUZZ_SOURCES ${WIRE_FUZZ_SOURCES} ${CMAKE_SOURCE_DIR}/wire/session_msg.c
                         ${CMAKE_SOURCE_DIR}/wire/session.c)
if(TARGET sdwire)
  foreach(h session_msg session_server)
    set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${h})
    if(SECRETD_FUZZ)
      add_executable(fuzz_${h} fuzz/fuzz_${h}.c ${SESSION_FUZZ_SOURCES})
      target_include_directories(fuzz_${h} PRIVATE ${CMAKE_SOURCE_DIR})
      target_compile_options(fuzz_${h} PRIVATE -fsanitize=fuzzer,address,undefined
                             -fno-sanitize-recover=all -U_FORTIFY_SOURCE)
      target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer,address,undefined)
      target_link_libraries(fuzz_${h} PRIVATE sdbase PkgConfig::MSGPACK PkgConfig::SODIUM
                            PkgConfig::UV)
      add_test(NAME fuzz_${h}_bounded
               COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=8192 $d"
                       $<TARGET_FILE:fuzz_${h}> ${corpus} 45)
      set_tests_properties(fuzz_${h}_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
    endif()
    add_executable(fuzz_${h}_replay fuzz/fuzz_${h}.c fuzz/replay_main.c)
    target_link_libraries(fuzz_${h}_replay PRIVATE sdwire)
    add_test(NAME fuzz_${h}_replay COMMAND fuzz_${h}_replay ${corpus})
    set_tests_properties(fuzz_${h}_replay PROPERTIES LABELS "unit;wire")
  endforeach()
endif()
