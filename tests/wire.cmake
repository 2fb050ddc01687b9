# Unit tests of wire/ (owner: wire/). Real sockets and a real libuv loop
# where a connection is involved.
if(TARGET sdwire)
  foreach(t test_wire_frame test_wire_msg test_wire_proto test_wire_session_unix test_wire_session_msg)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      secretd_unit_test(${t} LIBS sdwire)
      set_tests_properties(${t} PROPERTIES TIMEOUT 60 LABELS "unit;wire")
    endif()
  endforeach()
endif()

# Starvation (issue 7 §1): the real secretd under 2,000 stalled connections.
if(TARGET secretd AND TARGET secret AND TARGET sdwire)
  add_executable(wire_starve_client wire_starve_client.c)
  target_link_libraries(wire_starve_client PRIVATE sdwire)
  if(SECRETD_SANITIZE)
    set(starve_slack 3)
  else()
    set(starve_slack 1)
  endif()
  add_test(NAME wire_starve
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/wire_starve.sh $<TARGET_FILE:secretd>
                   $<TARGET_FILE:secret> $<TARGET_FILE:wire_starve_client> ${starve_slack})
  set_tests_properties(wire_starve PROPERTIES TIMEOUT 180 LABELS "integration;wire" RUN_SERIAL TRUE)
endif()
