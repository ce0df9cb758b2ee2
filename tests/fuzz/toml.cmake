# The TOML parser of config/, seeded with toml-test's valid documents.
imx_fuzz_target(fuzz_toml SOURCES fuzz/fuzz_toml.c LIBS imx_config
                CORPUS ${IMX_SHARED_DIR}/toml-test/tests/valid)
