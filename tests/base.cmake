secretd_unit_test(test_base_audit_json LIBS sdbase)
secretd_unit_test(test_base_error LIBS sdbase)
secretd_unit_test(test_base_secbuf LIBS sdbase)
set_tests_properties(test_base_secbuf PROPERTIES TIMEOUT 60 LABELS "unit;base")
