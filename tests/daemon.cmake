# Integration tests of secretd through the real `secretd` and `secret`
# binaries (owner: secretd/). Each script runs in its own temp dir and kills
# the secretd it started on exit, also when it fails. They need root (tmpfs
# mounts, temporary users) and are skipped as a group when either binary is
# not part of this build.
if(TARGET secretd AND TARGET secret)
  set(daemon_tests cycle marker crash peer malformed fulldisk lock autolock backup roles)
  foreach(t IN LISTS daemon_tests)
    add_test(NAME daemon_${t}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon_${t}.sh
                     $<TARGET_FILE:secretd> $<TARGET_FILE:secret>)
    set_tests_properties(daemon_${t} PROPERTIES TIMEOUT 180 LABELS "integration;daemon")
  endforeach()
  # audit --verify over a 1,000,000-record chain made in-process (issue 6 §4)
  add_test(NAME daemon_verify
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon_verify.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:store_audit_fill>)
  set_tests_properties(daemon_verify PROPERTIES TIMEOUT 300 LABELS "integration;daemon")
  # secret ls over 20,000 secrets made in-process (issue 8 §5)
  add_test(NAME daemon_paging
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon_paging.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:store_secret_fill>)
  set_tests_properties(daemon_paging PROPERTIES TIMEOUT 180 LABELS "integration;daemon")
  # Timing limits of the daemon tests are multiplied by SD_TIME_SLACK.
  if(SECRETD_SANITIZE)
    set(sd_slack 5)
  else()
    set(sd_slack 1)
  endif()
  foreach(t IN LISTS daemon_tests ITEMS verify)
    set_tests_properties(daemon_${t} PROPERTIES ENVIRONMENT "SD_TIME_SLACK=${sd_slack}")
  endforeach()
  if(SECRETD_SANITIZE)
    set_tests_properties(daemon_verify PROPERTIES
                         ENVIRONMENT "SD_TIME_SLACK=${sd_slack};SD_VERIFY_RECORDS=200000")
  endif()
  # The crash test kills secretd hundreds of times; keep others off the CPU.
  set_tests_properties(daemon_crash PROPERTIES RUN_SERIAL TRUE)
endif()

# Unit tests of secretd's wire-independent core (real store, real sockets).
if(TARGET secretd_core)
  foreach(t test_secretd_commit_queue test_secretd_peer test_secretd_identity)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      secretd_unit_test(${t} LIBS secretd_core)
    endif()
  endforeach()
endif()

# Cluster identity through secretd, secret and secret-agent (issue 9): joins
# over loopback and across two network namespaces the test makes (root).
if(TARGET secretd AND TARGET secret AND TARGET secret-agent)
  add_test(NAME identity_join
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/identity_join.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-agent>)
  set_tests_properties(identity_join PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                       LABELS "integration;daemon" ENVIRONMENT "SD_TIME_SLACK=${sd_slack}")
  # secret-agent run: heartbeats and status, renewal under libfaketime, node
  # rm cut-off, reconnection after restarts (loopback and two namespaces).
  add_test(NAME agent_run
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/agent_run.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-agent>)
  set_tests_properties(agent_run PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                       LABELS "integration;daemon" ENVIRONMENT "SD_TIME_SLACK=${sd_slack}")
  # The agent's identity checks: the manager checked on every connection of
  # run (impostors: a second cluster, openssl s_server), a removed or unknown
  # node's agent exiting with status 3, the manager certificate's renewal.
  add_test(NAME identity_agent
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/identity_agent.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-agent>)
  set_tests_properties(identity_agent PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                       LABELS "integration;daemon" ENVIRONMENT "SD_TIME_SLACK=${sd_slack}")
endif()

# Delivery, manager side (issue 11): assignment sets, generations, change
# tracking, the node authorizer and the worker ops' handlers on a real store.
if(TARGET secretd_dispatch)
  secretd_unit_test(test_secretd_dispatch LIBS secretd_dispatch)
  target_include_directories(test_secretd_dispatch PRIVATE ${SECRETD_TEST_DIR})
  # The bound on a node's set: writes that would overflow one frame are rolled back
  # inside their batch (with their audit record), the ones before them count.
  secretd_unit_test(test_secretd_setbound LIBS secretd_dispatch)
  target_include_directories(test_secretd_setbound PRIVATE ${SECRETD_TEST_DIR})
endif()

# Secret delivery end to end (issue 11): secretd --listen, secret-agent run
# with real containers from a busybox rootfs, service create, grants,
# rotations, revokes, audit, agent restart and node removal (root).
if(TARGET secretd AND TARGET secret AND TARGET secret-agent)
  add_test(NAME delivery_e2e
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/delivery_e2e.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-agent>
                   ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
  set_tests_properties(delivery_e2e PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
                       LABELS "integration;daemon;agent" ENVIRONMENT "SD_TIME_SLACK=${sd_slack}")
  # 50 containers on one node with 10 secrets each through secretd and one
  # secret-agent run: all 500 files right in each container's own view, one
  # rotation of each secret reaches all 50; a non-root --userns service's files
  # carry its container ids (root); with content trust enforced on the node
  # (secret-image policy) a --rootfs service is refused before any delivery.
  add_test(NAME delivery_scale
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/delivery_scale.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-agent>
                   ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh $<TARGET_FILE:secret-image>)
  set_tests_properties(delivery_scale PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
                       LABELS "integration;daemon;agent" ENVIRONMENT "SD_TIME_SLACK=${sd_slack}")

  # A node's assignment set stays within one frame: services with large seccomp
  # profiles fill a node to the bound and run; the next service or grant is refused
  # with the node, the size and the limit; a revoke still reaches the full node; another
  # node is unaffected (root).
  add_test(NAME delivery_setbound
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/delivery_setbound.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-agent>
                   ${CMAKE_SOURCE_DIR}/scripts/mkrootfs.sh)
  set_tests_properties(delivery_setbound PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
                       LABELS "integration;daemon;agent" ENVIRONMENT "SD_TIME_SLACK=${sd_slack}")
endif()

# Deliveries under concurrent load (issue 11): joined nodes on loopback, each
# session keeping node.deliver requests in flight (bench/deliver_load); every
# value received has its audit record, the records were group-committed.
if(TARGET secretd AND TARGET secret AND TARGET secret-agent AND TARGET deliver_load)
  add_test(NAME delivery_load
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/delivery_load.sh
                   $<TARGET_FILE:secretd> $<TARGET_FILE:secret> $<TARGET_FILE:secret-agent>
                   $<TARGET_FILE:deliver_load>)
  set_tests_properties(delivery_load PROPERTIES TIMEOUT 180 LABELS "integration;daemon")
endif()
