# Tests of bench/'s own code (owner: bench/): the HTTP/1.1 reply reader of
# etcd_bench and the file-system/CPU-time helpers printed beside every figure.
# The benchmarks themselves print figures and are not tests.
# - unit tests: test_bench_http_reply, test_bench_measure;
# - every build: fuzz_bench_parsers_replay runs the seed corpus once;
# - SECRETD_FUZZ (clang): fuzz_bench_parsers, a bounded libFuzzer run (20 s)
#   over a temporary copy of the seeds, labelled "fuzz".
set(BENCH_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/bench)
secretd_unit_test(test_bench_http_reply LIBS sdbench)
secretd_unit_test(test_bench_measure LIBS sdbench)
if(SECRETD_FUZZ)
  add_executable(fuzz_bench_parsers fuzz/fuzz_bench_parsers.c)
  target_link_libraries(fuzz_bench_parsers PRIVATE sdbench)
  target_link_options(fuzz_bench_parsers PRIVATE -fsanitize=fuzzer)
  add_test(NAME fuzz_bench_parsers_bounded
           COMMAND bash -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && cp $1/* $d/ && \
$0 -max_total_time=$2 -rss_limit_mb=2048 -timeout=10 -max_len=4096 $d"
                   $<TARGET_FILE:fuzz_bench_parsers> ${BENCH_FUZZ_CORPUS} 20)
  set_tests_properties(fuzz_bench_parsers_bounded PROPERTIES LABELS fuzz TIMEOUT 300)
endif()
add_executable(fuzz_bench_parsers_replay fuzz/fuzz_bench_parsers.c fuzz/replay_main.c)
target_link_libraries(fuzz_bench_parsers_replay PRIVATE sdbench)
add_test(NAME fuzz_bench_parsers_replay COMMAND fuzz_bench_parsers_replay ${BENCH_FUZZ_CORPUS})
