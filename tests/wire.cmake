# Unit tests of wire/ (owner: wire/). Real sockets and a real libuv loop
# where a connection is involved.
if(TARGET sdwire)
  foreach(t test_wire_frame test_wire_msg test_wire_proto test_wire_conn)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      secretd_unit_test(${t} LIBS sdwire)
      set_tests_properties(${t} PROPERTIES TIMEOUT 60 LABELS "unit;wire")
    endif()
  endforeach()
  # The wipe-on-growth test watches free() of the library's blocks.
  if(TARGET test_wire_msg)
    target_link_options(test_wire_msg PRIVATE -Wl,--wrap=free)
  endif()
endif()
