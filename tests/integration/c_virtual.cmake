# Virtual indexes (issue 4): the real pip through views that merge fake PyPI,
# PyTorch-like and private upstreams (tests/integration/virtual_fixture.py).
imx_integration_test(c_virtual_routing SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_routing.py)
imx_integration_test(c_virtual_corp SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_corp.py)
imx_integration_test(c_virtual_failclosed SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_failclosed.py)
imx_integration_test(c_virtual_install SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_install.py)
imx_integration_test(c_virtual_explain SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_explain.py)
imx_integration_test(c_virtual_markers SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_markers.py)
imx_integration_test(c_virtual_pages SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_pages.py)
# Rendered pages kept in LMDB across restarts, and what invalidates them (issue 5).
imx_integration_test(c_virtual_stored SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/c_virtual_stored.py)
