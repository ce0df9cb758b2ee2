# Issue 3 ("Mirror"): each [[index]] served alone, driven with the real pip and
# http.client against the fake upstreams; every test asserts on the upstream's
# request log. b_mirror_common.py is their shared set-up, not a test.
imx_integration_test(b_mirror_pip SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_mirror_pip.py)
imx_integration_test(b_mirror_headers SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_mirror_headers.py)
imx_integration_test(b_mirror_files SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_mirror_files.py)
imx_integration_test(b_mirror_cache SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_mirror_cache.py)
imx_integration_test(b_mirror_faults SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_mirror_faults.py)
imx_integration_test(b_mirror_big SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_mirror_big.py)
imx_integration_test(b_mirror_metadata_true
                     SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_mirror_metadata_true.py)
