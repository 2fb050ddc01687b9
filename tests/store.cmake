# store/ unit tests (owned with store/): real LMDB files in mkdtemp dirs.
if(TARGET sdstore)
  foreach(t validate ops audit full)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_store_${t}.c)
      secretd_unit_test(test_store_${t} LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
    endif()
  endforeach()
endif()

# Helper of daemon_verify.sh: a long audit chain made in-process.
if(TARGET sdstore)
  add_executable(store_audit_fill store_audit_fill.c)
  target_link_libraries(store_audit_fill PRIVATE sdstore)
endif()
