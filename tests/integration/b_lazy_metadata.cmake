# Issue 5 items 4 and 5: uv's lazy metadata reads (HEAD + two ranges) of an
# uncached wheel are forwarded to the upstream without downloading it; once
# stored, a wheel without upstream PEP 658 metadata gets it synthesized.
imx_integration_test(b_lazy_metadata SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/b_lazy_metadata.py)
