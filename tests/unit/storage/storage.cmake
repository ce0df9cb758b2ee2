imx_unit_test(test_storage SOURCES unit/storage/meta.c unit/storage/codec.c unit/storage/blob.c
              LIBS imx_storage)
