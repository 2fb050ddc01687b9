# image/: unit tests (cmocka), integration tests of secret-image (and of
# secret-launch --image) against the real binaries, run as root on images the
# tests build from the busybox rootfs.
if(TARGET sdimage)
  foreach(t oci unpack trust_dsse trust_statement trust_key trust_policy trust_check)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_image_${t}.c)
      secretd_unit_test(test_image_${t} LIBS sdimage)
      set_tests_properties(test_image_${t} PROPERTIES LABELS "unit;image" SKIP_RETURN_CODE 77)
    endif()
  endforeach()
  foreach(t import malicious store launch trust)
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

# Fuzzing of image/'s parsers: the OCI JSON documents (index, manifest, config),
# the layer unpacker, and content trust's DSSE envelopes, statements, key,
# public key and policy files. With SECRETD_FUZZ (clang): libFuzzer binaries and
# bounded runs labelled "fuzz"; in every build: the harnesses replay the seeds.
if(TARGET sdimage)
  foreach(h image_json image_unpack trust_dsse trust_statement trust_key)
    set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${h})
    if(SECRETD_FUZZ)
      add_executable(fuzz_${h} fuzz/fuzz_${h}.c)
      target_link_libraries(fuzz_${h} PRIVATE sdimage)
      target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
      add_test(NAME fuzz_${h}_bounded
               COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=65536 $d"
                       $<TARGET_FILE:fuzz_${h}> ${corpus} 45)
      set_tests_properties(fuzz_${h}_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
    else()
      add_executable(fuzz_${h}_replay fuzz/fuzz_${h}.c fuzz/replay_main.c)
      target_link_libraries(fuzz_${h}_replay PRIVATE sdimage)
      add_test(NAME fuzz_${h}_replay COMMAND fuzz_${h}_replay ${corpus})
      set_tests_properties(fuzz_${h}_replay PROPERTIES LABELS "unit;image")
    endif()
  endforeach()
endif()
