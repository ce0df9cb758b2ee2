# Fuzz driver for resolver/pep/wheelmeta.c (the zip reader behind synthesized
# PEP 658 metadata); seeds are the small wheels tests/vectors/wheels/make.py
# writes, including ZIP64 and error cases.
imx_fuzz_target(fuzz_wheelmeta SOURCES fuzz/fuzz_wheelmeta.c LIBS imx_pep
                CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/wheelmeta)
