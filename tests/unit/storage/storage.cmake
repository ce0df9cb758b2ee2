imx_unit_test(test_storage SOURCES unit/storage/meta.c unit/storage/codec.c unit/storage/blob.c
              unit/storage/rendered.c LIBS imx_storage)
