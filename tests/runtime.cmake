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
