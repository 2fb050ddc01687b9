# Services (issue 11, manager side): the store's services and tasks tables, grants
# with unset owners and pinned versions, and the daemon + CLI verbs end to end.
if(TARGET sdstore)
  secretd_unit_test(test_store_services LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
endif()
if(TARGET sdstore)
  secretd_unit_test(test_store_grants LIBS sdstore PkgConfig::LMDB PkgConfig::MSGPACK)
endif()

# service create/ls/inspect/ps/rm and grant pins/unset owners through the real
# secretd and secret; secret-launch gives the messages service create must equal.
if(TARGET secretd AND TARGET secret AND TARGET secret-launch)
  add_test(NAME daemon_services
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon_services.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-launch>)
  set_tests_properties(daemon_services PROPERTIES TIMEOUT 180 LABELS "integration;daemon")
endif()

# The worker ops through the real secretd: refused and audited without a node
# certificate; change tracking after every write that can change assignments.
if(TARGET secretd AND TARGET secret)
  add_test(NAME daemon_worker_ops
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon_worker_ops.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret>)
  set_tests_properties(daemon_worker_ops PROPERTIES TIMEOUT 120 LABELS "integration;daemon")
endif()
