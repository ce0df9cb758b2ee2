# PEP language parsers (pkgname, version, specifier, marker, wheel): one
# criterion binary over the vector tables in tests/vectors/, and a
# differential test against Debian's python3-packaging through pep_cli.
imx_unit_test(test_pep_lang
  SOURCES unit/resolver/pep/version.c unit/resolver/pep/pkgname.c
          unit/resolver/pep/specifier.c unit/resolver/pep/marker.c
          unit/resolver/pep/wheel.c
  LIBS imx_pep)

add_executable(pep_cli unit/resolver/pep/pep_cli.c)
target_link_libraries(pep_cli PRIVATE imx_pep)
imx_warnings(pep_cli)
add_test(NAME pep_differential
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/unit/resolver/pep/differential.py
          $<TARGET_FILE:pep_cli>)
set_tests_properties(pep_differential PROPERTIES LABELS unit ENVIRONMENT "${IMX_TEST_ENV}"
  TIMEOUT 300)
