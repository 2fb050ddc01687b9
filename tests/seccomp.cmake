# R2: seccomp, Landlock and MAC tests for runtime/ (unit tests need sdruntime;
# integration tests need secret-launch). Written to configure even while either is missing.
# SECRETD_PEERS_DIR (tests/CMakeLists.txt): Docker 20.10's and Podman's profiles from
# Debian packages, unpacked by scripts/deps.sh.

if(TARGET sdruntime)
  foreach(t test_runtime_seccomp_profile test_runtime_seccomp_default
            test_runtime_seccomp_landlock test_runtime_seccomp_vs_20_10)
    secretd_unit_test(${t} LIBS sdruntime)
    target_compile_definitions(${t} PRIVATE PEERS_DIR="${SECRETD_PEERS_DIR}")
  endforeach()
  target_compile_definitions(test_runtime_seccomp_vs_20_10 PRIVATE
    CHANGES_FILE="${CMAKE_SOURCE_DIR}/runtime/seccomp_default_since_20.10.txt")
  set_tests_properties(test_runtime_seccomp_vs_20_10 PROPERTIES TIMEOUT 120)
endif()

# The probe runs inside the busybox rootfs, so it is linked statically. It is built with
# the compiler directly, without the project's flags (PIE, sanitizers) that do not mix
# with -static.
set(SECCOMP_PROBE ${CMAKE_CURRENT_BINARY_DIR}/seccomp-probe)
add_custom_command(OUTPUT ${SECCOMP_PROBE}
  COMMAND ${CMAKE_C_COMPILER} -O2 -Wall -Wextra -Werror -static -o ${SECCOMP_PROBE}
          ${CMAKE_CURRENT_SOURCE_DIR}/probe/probe.c
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/probe/probe.c
  COMMENT "Building the static seccomp probe"
  VERBATIM)
add_custom_target(seccomp_probe ALL DEPENDS ${SECCOMP_PROBE})

if(TARGET secret-launch)
  foreach(s seccomp_default seccomp_profiles landlock_rw)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${s}.sh)
      add_test(NAME ${s}
               COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${s}.sh $<TARGET_FILE:secret-launch>
                       ${SECCOMP_PROBE} ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh
                       ${SECRETD_PEERS_DIR})
      set_tests_properties(${s} PROPERTIES TIMEOUT 60)
    endif()
  endforeach()
endif()

# The shipped AppArmor profile must compile (no kernel load: -Q -K -T works without
# AppArmor in the kernel), and a broken copy must not (the check can fail).
# apparmor_parser comes from the Debian package "apparmor" (scripts/deps.sh).
find_program(APPARMOR_PARSER apparmor_parser PATHS /usr/sbin /sbin REQUIRED)
add_test(NAME apparmor_profile_compiles
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/apparmor_profile_compiles.sh ${APPARMOR_PARSER}
                 ${CMAKE_SOURCE_DIR}/docs/apparmor/secretd-default)
