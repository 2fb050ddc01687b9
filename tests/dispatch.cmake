# Fuzzing of delivery, manager side (issue 11): the agent's decoder of an
# assignment set (wire/assign.c), and the worker ops' requests through the
# schema, their handlers and the authorizer's store read (secretd/node_ops.c).
# With SECRETD_FUZZ (clang): libFuzzer binaries and bounded runs labelled
# "fuzz"; in every build: the same harnesses replaying the seed corpora.
# tests/fuzz/gen_assign_corpus.c regenerates the seeds:
#   gen_assign_corpus tests/fuzz/corpus/assign tests/fuzz/corpus/node_args
set(ASSIGN_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/assign)
set(NODE_ARGS_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/node_args)
if(TARGET secretd_dispatch)
  foreach(h assign node_args)
    string(TOUPPER ${h} H)
    if(h STREQUAL "assign")
      set(libs sdwire)
    else()
      set(libs secretd_dispatch)
    endif()
    if(SECRETD_FUZZ)
      add_executable(fuzz_${h} fuzz/fuzz_${h}.c)
      target_link_libraries(fuzz_${h} PRIVATE ${libs})
      target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
      add_test(NAME fuzz_${h}_bounded
               COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=16384 $d"
                       $<TARGET_FILE:fuzz_${h}> ${${H}_FUZZ_CORPUS} 30)
      set_tests_properties(fuzz_${h}_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
    else()
      add_executable(fuzz_${h}_replay fuzz/fuzz_${h}.c fuzz/replay_main.c)
      target_link_libraries(fuzz_${h}_replay PRIVATE ${libs})
      add_test(NAME fuzz_${h}_replay COMMAND fuzz_${h}_replay ${${H}_FUZZ_CORPUS})
      set_tests_properties(fuzz_${h}_replay PROPERTIES LABELS "unit;dispatch")
    endif()
  endforeach()
  add_executable(gen_assign_corpus EXCLUDE_FROM_ALL fuzz/gen_assign_corpus.c)
  target_link_libraries(gen_assign_corpus PRIVATE sdwire)
endif()
