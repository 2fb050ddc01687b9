# store/ unit tests (owned with store/): real LMDB files in mkdtemp dirs.
if(TARGET sdstore)
  foreach(t validate ops audit full)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_store_${t}.c)
      secretd_unit_test(test_store_${t} LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
    endif()
  endforeach()
endif()
