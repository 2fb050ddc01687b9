# The agent's delivery core (agent/core): pure planning units, and integration tests
# through a driver process with real containers, tmpfs and cgroups (as root).
if(SECRETD_SANITIZE)
  set(AGENTCORE_SANITIZED 1)
else()
  set(AGENTCORE_SANITIZED 0)
endif()
# The content-based seccomp entry point the agent uses (runtime/seccomp.h).
secretd_unit_test(test_runtime_seccomp_json LIBS sdruntime)
if(TARGET sdagentcore)
  secretd_unit_test(test_agent_plan LIBS sdagentcore)
  secretd_unit_test(test_agent_record LIBS sdagentcore)
  secretd_unit_test(test_agent_set_order LIBS sdagentcore)
  add_executable(agentcore_driver agentcore_driver.c)
  target_link_libraries(agentcore_driver PRIVATE sdagentcore)
  foreach(t delivery restart scale)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/agentcore_${t}.sh)
      continue()
    endif()
    add_test(NAME agentcore_${t}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/agentcore_${t}.sh
                     $<TARGET_FILE:agentcore_driver> ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh
                     ${AGENTCORE_SANITIZED})
    set_tests_properties(agentcore_${t} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                         LABELS "agent;integration" RUN_SERIAL TRUE)
  endforeach()
endif()

# The task record reader (agent/core/record.c): libFuzzer under SECRETD_FUZZ, a replay
# of the seed corpus in every other build.
if(TARGET sdagentcore)
  set(AGENT_RECORD_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/agent_record)
  if(SECRETD_FUZZ)
    add_executable(fuzz_agent_record fuzz/fuzz_agent_record.c)
    target_link_libraries(fuzz_agent_record PRIVATE sdagentcore)
    target_link_options(fuzz_agent_record PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz_agent_record_bounded
             COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 $d"
                     $<TARGET_FILE:fuzz_agent_record> ${AGENT_RECORD_FUZZ_CORPUS} 30)
    set_tests_properties(fuzz_agent_record_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
  else()
    add_executable(fuzz_agent_record_replay fuzz/fuzz_agent_record.c fuzz/replay_main.c)
    target_link_libraries(fuzz_agent_record_replay PRIVATE sdagentcore)
    add_test(NAME fuzz_agent_record_replay
             COMMAND fuzz_agent_record_replay ${AGENT_RECORD_FUZZ_CORPUS})
  endif()
endif()
