# R3: cgroups, the secrets tmpfs, their unit and integration tests.
set(R3_RUNTIME_LIB sdruntime)

foreach(t test_runtime_secrets_fs test_runtime_cgroup)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/${t}.c)
    secretd_unit_test(${t} LIBS ${R3_RUNTIME_LIB})
    set_tests_properties(${t} PROPERTIES TIMEOUT 60)
  endif()
endforeach()

# Integration tests through the real secret-launch (R1) and a live-rotation helper.
if(TARGET secret-launch AND TARGET sdruntime AND
   EXISTS ${CMAKE_SOURCE_DIR}/tests/secrets_live_helper.c)
  add_executable(secrets_live_helper secrets_live_helper.c)
  target_link_libraries(secrets_live_helper PRIVATE sdruntime)
  foreach(t secrets_tmpfs cgroup_limits)
    if(EXISTS ${CMAKE_SOURCE_DIR}/tests/${t}.sh)
      add_test(NAME ${t}
               COMMAND bash ${CMAKE_SOURCE_DIR}/tests/${t}.sh $<TARGET_FILE:secret-launch>
                       $<TARGET_FILE:secrets_live_helper> ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
      set_tests_properties(${t} PROPERTIES TIMEOUT 120)
    endif()
  endforeach()
endif()
