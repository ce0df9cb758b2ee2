imx_unit_test(test_simple SOURCES unit/resolver/pep/simple_html.c unit/resolver/pep/simple_json.c
              unit/resolver/pep/simple_render.c unit/resolver/pep/simple_index.c
              unit/resolver/pep/simple_testutil.c unit/resolver/pep/simple_render_direct.c
              LIBS imx_pep)
