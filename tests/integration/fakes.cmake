# The fake upstreams (tests/fakes/) checked against the real pip; needs no
# indexmux binary, so it is a plain add_test rather than imx_integration_test().
add_test(NAME integration_fakes
         COMMAND ${Python3_EXECUTABLE} -u ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_fakes.py)
set_tests_properties(integration_fakes PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "${IMX_TEST_ENV}")
