# Services (issue 11, manager side): the store's services and tasks tables, grants
# with unset owners and pinned versions, and the daemon + CLI verbs end to end.
if(TARGET sdstore)
  secretd_unit_test(test_store_services LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
endif()
if(TARGET sdstore)
  secretd_unit_test(test_store_grants LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
endif()
