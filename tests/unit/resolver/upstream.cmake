# resolver/upstream.c against a scripted local HTTP server (upstream_server.py).
imx_unit_test(test_upstream SOURCES unit/resolver/upstream.c LIBS imx_resolver)
