# Fuzz drivers for the PEP language parsers in resolver/pep/ (see each
# driver's header comment for the invariants it checks).
foreach(_t version marker wheel pkgname)
  imx_fuzz_target(fuzz_${_t} SOURCES fuzz/fuzz_${_t}.c LIBS imx_pep
                  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${_t})
endforeach()
