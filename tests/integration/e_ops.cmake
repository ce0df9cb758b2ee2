# Operations (issue 6): /metrics, access log, credentials, SIGHUP reload.
imx_integration_test(e_ops_metrics SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/e_ops_metrics.py)
imx_integration_test(e_ops_reload SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/e_ops_reload.py)
