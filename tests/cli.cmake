# Unit tests of the `secret` CLI (owner: cli/): parsing of times, durations,
# modes and heads, JSON escaping, tables, value input and argument parsing of
# every verb. They link sdcli, the same code as the binary, and never talk to
# a daemon (the daemon_*.sh integration tests do that).
if(TARGET sdcli)
  foreach(t test_cli_parse test_cli_output test_cli_args)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      secretd_unit_test(${t} LIBS sdcli)
      set_tests_properties(${t} PROPERTIES TIMEOUT 60 LABELS "unit;cli")
    endif()
  endforeach()
endif()

# The CLI through a real secretd (exit statuses, error lines, JSON, audit
# paging and verification). Needs root like the daemon tests.
if(TARGET secretd AND TARGET secret)
  add_test(NAME cli_verbs
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_verbs.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret>)
  set_tests_properties(cli_verbs PROPERTIES TIMEOUT 180 LABELS "integration;cli")
  # The CLI's paging against a stub server whose pages do not advance.
  add_test(NAME cli_pages_hostile
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_pages_hostile.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret>)
  set_tests_properties(cli_pages_hostile PROPERTIES TIMEOUT 120 LABELS "integration;cli")
endif()
