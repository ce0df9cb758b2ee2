# config/: the TOML parser (API + error positions, and the toml-test suite,
# which needs jansson for the tagged JSON) and the configuration schema.
imx_unit_test(test_toml SOURCES unit/config/toml.c unit/config/toml_test.c
              LIBS imx_config PkgConfig::JANSSON)
imx_unit_test(test_config SOURCES unit/config/config.c LIBS imx_config)
