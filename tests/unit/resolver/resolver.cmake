# resolver/: the page pipeline (merge, link rewriting, render) against golden
# vectors, on fixture pages stored in a throwaway store (no upstream).
imx_unit_test(test_resolver SOURCES unit/resolver/render.c unit/resolver/parsed.c
                      unit/resolver/pep/simple_testutil.c
              LIBS imx_resolver)
