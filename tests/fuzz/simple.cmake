imx_fuzz_target(fuzz_simple_html SOURCES fuzz/fuzz_simple_html.c LIBS imx_pep
                CORPUS ${IMX_SHARED_DIR}/fixtures)
imx_fuzz_target(fuzz_simple_json SOURCES fuzz/fuzz_simple_json.c LIBS imx_pep
                CORPUS ${IMX_SHARED_DIR}/fixtures)
