# Image scanning (issue 14): dpkg versions and database, the Debian Security
# Tracker index. Unit tests (cmocka), a check against the real dpkg, and the
# parsers' fuzz harnesses (bounded libFuzzer runs labelled "fuzz" in the fuzz
# build; seed replays in every other build).
if(TARGET sdimage)
  foreach(t dpkg_version vulndb_tracker vulndb_osv scan_match scan_ignore json_stream)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_image_${t}.c)
      secretd_unit_test(test_image_${t} LIBS sdimage)
      set_tests_properties(test_image_${t} PROPERTIES LABELS "unit;image;scan")
    endif()
  endforeach()
  # the status test loads this machine's root and a busybox rootfs it builds
  add_executable(test_image_dpkg_status test_image_dpkg_status.c)
  target_link_libraries(test_image_dpkg_status PRIVATE sdimage PkgConfig::CMOCKA)
  add_test(NAME test_image_dpkg_status
           COMMAND bash ${SECRETD_TEST_DIR}/harness/run_unit.sh
                   $<TARGET_FILE:test_image_dpkg_status> ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
  set_tests_properties(test_image_dpkg_status PROPERTIES LABELS "unit;image;scan"
                       SKIP_RETURN_CODE 77)

  add_executable(dpkg_version_tool dpkg_version_tool.c)
  target_link_libraries(dpkg_version_tool PRIVATE sdimage)
  add_test(NAME scan_dpkg_compare
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scan_dpkg_compare.sh
                   $<TARGET_FILE:dpkg_version_tool> 2000)
  set_tests_properties(scan_dpkg_compare PROPERTIES TIMEOUT 120 LABELS "image;scan;integration")

  foreach(h dpkg_version dpkg_status vulndb_tracker vulndb_osv scan_ignore)
    set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${h})
    if(SECRETD_FUZZ)
      add_executable(fuzz_${h} fuzz/fuzz_${h}.c)
      target_link_libraries(fuzz_${h} PRIVATE sdimage)
      target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
      add_test(NAME fuzz_${h}_bounded
               COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=65536 $d"
                       $<TARGET_FILE:fuzz_${h}> ${corpus} 15)
      set_tests_properties(fuzz_${h}_bounded PROPERTIES LABELS fuzz TIMEOUT 120)
    else()
      add_executable(fuzz_${h}_replay fuzz/fuzz_${h}.c fuzz/replay_main.c)
      target_link_libraries(fuzz_${h}_replay PRIVATE sdimage)
      add_test(NAME fuzz_${h}_replay COMMAND fuzz_${h}_replay ${corpus})
      set_tests_properties(fuzz_${h}_replay PROPERTIES LABELS "unit;image;scan")
    endif()
  endforeach()
endif()

# secret-image db import / scan through the real binary
if(TARGET secret-image)
  add_test(NAME scan_rootfs
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scan_rootfs.sh $<TARGET_FILE:secret-image>
                   ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
  set_tests_properties(scan_rootfs PROPERTIES TIMEOUT 120 LABELS "image;scan;integration")
endif()
if(TARGET secret-image)
  add_test(NAME scan_image
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scan_image.sh $<TARGET_FILE:secret-image>
                   ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
  set_tests_properties(scan_image PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
                       LABELS "image;scan;integration")
endif()
# a busybox rootfs with chosen packages against both data formats, every output
if(TARGET secret-image)
  add_test(NAME scan_busybox
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scan_busybox.sh $<TARGET_FILE:secret-image>
                   ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
  set_tests_properties(scan_busybox PROPERTIES TIMEOUT 120 LABELS "image;scan;integration")
endif()
# OSV import and the tracker-wins rule through the real binary
if(TARGET secret-image)
  add_test(NAME scan_osv COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scan_osv.sh $<TARGET_FILE:secret-image>)
  set_tests_properties(scan_osv PROPERTIES TIMEOUT 120 LABELS "image;scan;integration")
endif()
# the launch policy's scan section through secret-image and secret-launch (root)
if(TARGET secret-image AND TARGET secret-launch)
  add_test(NAME scan_policy
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scan_policy.sh $<TARGET_FILE:secret-image>
                   ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh $<TARGET_FILE:secret-launch>)
  set_tests_properties(scan_policy PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
                       LABELS "image;scan;integration")
endif()
