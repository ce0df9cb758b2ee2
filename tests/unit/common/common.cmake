imx_unit_test(test_common SOURCES unit/common/buf.c unit/common/str.c unit/common/err.c
              unit/common/sha256.c unit/common/xalloc.c unit/common/arena.c
              LIBS imx_common)
