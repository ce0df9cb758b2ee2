# resolver/pep/wheelmeta.c: the table tests/vectors/wheelmeta.txt over the
# wheels in tests/vectors/wheels/, plus hostile zips made by mutating them.
imx_unit_test(test_wheelmeta SOURCES unit/resolver/pep/wheelmeta.c LIBS imx_pep)
