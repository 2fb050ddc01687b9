secretd_unit_test(test_base_audit_json LIBS sdbase)
secretd_unit_test(test_base_error LIBS sdbase)
secretd_unit_test(test_base_parse LIBS sdbase)
