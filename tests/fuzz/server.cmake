imx_fuzz_target(fuzz_accept SOURCES fuzz/fuzz_accept.c LIBS imx_server
                CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/accept)
imx_fuzz_target(fuzz_range SOURCES fuzz/fuzz_range.c LIBS imx_server
                CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/range)
