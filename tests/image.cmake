# image/: unit tests (cmocka), integration tests of secret-image (and of
# secret-launch --image) against the real binaries, run as root on images the
# tests build from the busybox rootfs.
if(TARGET sdimage)
  foreach(t oci unpack)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_image_${t}.c)
      secretd_unit_test(test_image_${t} LIBS sdimage)
      set_tests_properties(test_image_${t} PROPERTIES LABELS "unit;image")
    endif()
  endforeach()
  foreach(t import malicious store launch)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/image_${t}.sh)
      add_test(NAME image_${t}
               COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/image_${t}.sh
                       $<TARGET_FILE:secret-image> ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh
                       $<$<TARGET_EXISTS:secret-launch>:$<TARGET_FILE:secret-launch>>)
      set_tests_properties(image_${t} PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
                           LABELS "image;integration")
    endif()
  endforeach()
endif()
