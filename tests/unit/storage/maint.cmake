# storage/maint.c: bundles, gc, fsck, per-upstream figures.
imx_unit_test(test_storage_maint SOURCES unit/storage/maint.c LIBS imx_storage)
