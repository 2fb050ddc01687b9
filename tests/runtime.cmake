# R1: container launcher integration tests. Each script builds its own busybox rootfs
# with scripts/mkrootfs.sh in a temp dir and runs the real secret-launch as root.
if(TARGET secret-launch)
  foreach(t basic exit paths user mounts devices init hygiene layer detach)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/runtime_${t}.sh)
      add_test(NAME runtime_${t}
               COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/runtime_${t}.sh
                       $<TARGET_FILE:secret-launch>
                       ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
      set_tests_properties(runtime_${t} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
                           LABELS "runtime;integration")
    endif()
  endforeach()
endif()

if(TARGET sdruntime)
  secretd_unit_test(test_runtime_launch_parse LIBS sdruntime)
endif()
secretd_unit_test(test_runtime_mac LIBS sdruntime)
secretd_unit_test(test_runtime_lifecycle LIBS sdruntime)
target_compile_definitions(test_runtime_lifecycle PRIVATE
                           MKROOTFS="${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh")
set_tests_properties(test_runtime_lifecycle PROPERTIES TIMEOUT 60)

# The detached-container state reader (runtime/state.c): libFuzzer under SECRETD_FUZZ,
# a replay of the seed corpus in every other build.
set(RT_STATE_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/runtime_state)
if(SECRETD_FUZZ)
  add_executable(fuzz_runtime_state fuzz/fuzz_runtime_state.c)
  target_link_libraries(fuzz_runtime_state PRIVATE sdruntime)
  target_link_options(fuzz_runtime_state PRIVATE -fsanitize=fuzzer)
  add_test(NAME fuzz_runtime_state_bounded
           COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 $d"
                   $<TARGET_FILE:fuzz_runtime_state> ${RT_STATE_FUZZ_CORPUS} 30)
  set_tests_properties(fuzz_runtime_state_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
else()
  add_executable(fuzz_runtime_state_replay fuzz/fuzz_runtime_state.c fuzz/replay_main.c)
  target_link_libraries(fuzz_runtime_state_replay PRIVATE sdruntime)
  add_test(NAME fuzz_runtime_state_replay
           COMMAND fuzz_runtime_state_replay ${RT_STATE_FUZZ_CORPUS})
endif()

# The shared launch spec (runtime/launch_spec.h): rules, messages, msgpack form.
if(TARGET sdlaunchspec)
  secretd_unit_test(test_runtime_launch_spec LIBS sdlaunchspec)
  # Its decoder (what secretd reads from the wire and the store): libFuzzer under
  # SECRETD_FUZZ, a replay of the seed corpus in every other build.
  set(LAUNCH_SPEC_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/launch_spec)
  if(SECRETD_FUZZ)
    add_executable(fuzz_launch_spec fuzz/fuzz_launch_spec.c)
    target_link_libraries(fuzz_launch_spec PRIVATE sdlaunchspec)
    target_link_options(fuzz_launch_spec PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz_launch_spec_bounded
             COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 $d"
                     $<TARGET_FILE:fuzz_launch_spec> ${LAUNCH_SPEC_FUZZ_CORPUS} 30)
    set_tests_properties(fuzz_launch_spec_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
  else()
    add_executable(fuzz_launch_spec_replay fuzz/fuzz_launch_spec.c fuzz/replay_main.c)
    target_link_libraries(fuzz_launch_spec_replay PRIVATE sdlaunchspec)
    add_test(NAME fuzz_launch_spec_replay
             COMMAND fuzz_launch_spec_replay ${LAUNCH_SPEC_FUZZ_CORPUS})
  endif()
endif()
