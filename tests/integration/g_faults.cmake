# Issue 7 items 1 and 3: upstream faults end to end (stalls bounded by the
# timeouts, cut and over-long bodies, chunked bodies without the final chunk,
# redirect loops and schemes, garbage, the page cap and gzip bombs, 403/404
# mixes, stale pages) and process/disk faults (SIGKILL during a cold large
# fetch and during page writes, LMDB map full, a full tmpfs data dir).
# g_faults_common.py is their shared set-up, not a test.
imx_integration_test(g_faults_upstream SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/g_faults_upstream.py TIMEOUT 240)
imx_integration_test(g_faults_process SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/g_faults_process.py TIMEOUT 300)
