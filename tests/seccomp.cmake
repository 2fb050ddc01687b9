# R2: seccomp, Landlock and MAC tests for runtime/ (unit tests need sdruntime;
# integration tests need secret-launch). Written to configure even while either is missing.
set(SECRETD_PEERS_DIR ${CMAKE_SOURCE_DIR}/../shared/peers CACHE PATH
    "Docker's profiles (moby/profiles) used by compatibility tests")

if(TARGET sdruntime)
  foreach(t test_runtime_seccomp_profile test_runtime_seccomp_default
            test_runtime_seccomp_landlock)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      secretd_unit_test(${t} LIBS sdruntime)
      target_compile_definitions(${t} PRIVATE PEERS_DIR="${SECRETD_PEERS_DIR}")
    endif()
  endforeach()
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

# The shipped AppArmor profile must at least compile (no kernel load) where the parser
# exists (Debian package "apparmor"); this host kind has no AppArmor in the kernel.
find_program(APPARMOR_PARSER apparmor_parser PATHS /usr/sbin /sbin)
if(APPARMOR_PARSER)
  add_test(NAME apparmor_profile_compiles
           COMMAND ${APPARMOR_PARSER} -Q -K -T ${CMAKE_SOURCE_DIR}/docs/apparmor/secretd-default)
endif()
