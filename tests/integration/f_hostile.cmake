# Hostile clients (issue 7 item 2): slowloris, oversized request line and
# headers, methods, request smuggling, traversal and encoded slashes/NULs,
# unknown /files/ keys, bad ranges, slow readers. Opens ~1,600 sockets.
imx_integration_test(f_hostile SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/f_hostile.py)
