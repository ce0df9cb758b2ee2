imx_unit_test(test_negotiate SOURCES unit/server/negotiate.c LIBS imx_server)
imx_unit_test(test_range SOURCES unit/server/range.c LIBS imx_server)
imx_unit_test(test_server SOURCES unit/server/server.c LIBS imx_server)
imx_unit_test(test_respond SOURCES unit/server/respond.c LIBS imx_server)
