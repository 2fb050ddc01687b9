# The test harness (tests/harness/: run_unit.sh, suite.py, host_feature.sh, and the
# registration check in tests/CMakeLists.txt) tested on a small ctest project.
add_test(NAME harness_selftest
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/harness_selftest.sh ${CMAKE_SOURCE_DIR}
                 ${CMAKE_C_COMPILER})
set_tests_properties(harness_selftest PROPERTIES TIMEOUT 120)
