# Skeleton behaviour of the real binary: CLI exit codes, /healthz, landing
# page, 404/405, SIGTERM.
imx_integration_test(a_basic SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/a_basic.py)
