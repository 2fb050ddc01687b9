# The agent's delivery core (agent/core): pure planning units, and integration tests
# through a driver process with real containers, tmpfs and cgroups (as root).
if(TARGET sdagentcore)
  secretd_unit_test(test_agent_plan LIBS sdagentcore)
  secretd_unit_test(test_agent_record LIBS sdagentcore)
  add_executable(agentcore_driver agentcore_driver.c)
  target_link_libraries(agentcore_driver PRIVATE sdagentcore)
  foreach(t delivery restart scale)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/agentcore_${t}.sh)
      continue()
    endif()
    add_test(NAME agentcore_${t}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/agentcore_${t}.sh
                     $<TARGET_FILE:agentcore_driver> ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh
                     $<BOOL:${SECRETD_SANITIZE}>)
    set_tests_properties(agentcore_${t} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                         LABELS "agent;integration" RUN_SERIAL TRUE)
  endforeach()
endif()
