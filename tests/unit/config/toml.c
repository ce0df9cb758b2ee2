/*
 * toml.c - unit tests of the TOML parser API: node positions, lookups,
 * limits, and a table of syntax errors with the exact `line:col: message`.
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "toml.h"
#include "xalloc.h"

static struct toml_node *parse_ok(const char *text)
{
    struct toml_node *root = NULL;
    struct buf err;
    int rc;

    buf_init(&err, 4096);
    rc = toml_parse(text, strlen(text), &root, &err);
    cr_assert_eq(rc, 0, "parse failed: %s", buf_cstr(&err));
    buf_release(&err);
    return root;
}

Test(toml, positions_of_keys_values_and_headers)
{
    struct toml_node *root = parse_ok("# c\n"
                                      "a = 1\n"
                                      "  b.c = \"x\"\n"
                                      "[t]\n"
                                      "arr = [ 1,\n   2 ]\n"
                                      "[[aot]]\n"
                                      "\"é\" = 'ü'\n");
    const struct toml_node *a = toml_get(root, "a");
    const struct toml_node *b = toml_get(root, "b");
    const struct toml_node *c = toml_get(b, "c");
    const struct toml_node *t = toml_get(root, "t");
    const struct toml_node *arr = toml_get(t, "arr");
    const struct toml_node *aot = toml_get(root, "aot");

    cr_assert_eq(a->type, TOML_INTEGER);
    cr_assert_eq(a->i, 1);
    cr_assert_eq(a->line, 2);
    cr_assert_eq(a->col, 1);
    cr_assert_eq(a->vcol, 5);
    cr_assert_eq(b->type, TOML_TABLE);
    cr_assert_eq(c->line, 3);
    cr_assert_eq(c->col, 3);
    cr_assert_eq(c->vcol, 9);
    cr_assert_str_eq(c->s, "x");
    cr_assert_eq(t->line, 4);
    cr_assert_eq(t->col, 1);
    cr_assert_eq(arr->nkids, 2);
    cr_assert_eq(arr->kids[1]->line, 6);
    cr_assert_eq(arr->kids[1]->col, 4);
    cr_assert_eq(aot->type, TOML_ARRAY);
    cr_assert_eq(aot->nkids, 1);
    cr_assert_eq(aot->kids[0]->line, 7);
    /* columns count characters: 'ü' starts at column 7 after "\"é\" = " */
    cr_assert_eq(toml_get(aot->kids[0], "é")->vcol, 7);
    toml_free(root);
}

Test(toml, get_is_null_safe)
{
    struct toml_node *root = parse_ok("a = 1\n");

    cr_assert_null(toml_get(NULL, "a"));
    cr_assert_null(toml_get(toml_get(root, "a"), "x"));
    cr_assert_null(toml_get(root, "zz"));
    toml_free(root);
    toml_free(NULL);
}

Test(toml, large_table_uses_index)
{
    struct buf b;
    struct toml_node *root = NULL;
    char key[32];
    int i;

    buf_init(&b, BUF_NOMAX);
    for (i = 0; i < 5000; i++)
        buf_printf(&b, "k%d = %d\n", i, i);
    cr_assert_eq(toml_parse(b.p, b.len, &root, NULL), 0);
    for (i = 0; i < 5000; i += 97) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(toml_get(root, key)->i, i);
    }
    toml_free(root);
    buf_printf(&b, "k4999 = 1\n");
    cr_assert_eq(toml_parse(b.p, b.len, &root, NULL), IMX_ESYNTAX);
    buf_release(&b);
}

Test(toml, depth_and_size_limits)
{
    struct buf b;
    struct toml_node *root = NULL;
    struct buf err;
    int i;

    buf_init(&b, BUF_NOMAX);
    buf_init(&err, 4096);
    buf_appends(&b, "a = ");
    for (i = 0; i < 200; i++)
        buf_putc(&b, '[');
    for (i = 0; i < 200; i++)
        buf_putc(&b, ']');
    cr_assert_eq(toml_parse(b.p, b.len, &root, &err), IMX_ETOOLARGE);
    cr_assert(strstr(buf_cstr(&err), "nesting deeper than 128 levels") != NULL, "%s",
              buf_cstr(&err));
    buf_reset(&b);
    for (i = 0; i < 300; i++)
        buf_appends(&b, "a.");
    buf_appends(&b, "b = 1\n");
    cr_assert_eq(toml_parse(b.p, b.len, &root, NULL), IMX_ETOOLARGE);
    buf_release(&b);

    {
        char *big = xmalloc(TOML_MAX_INPUT + 1);
        memset(big, '\n', TOML_MAX_INPUT + 1);
        cr_assert_eq(toml_parse(big, TOML_MAX_INPUT + 1, &root, NULL), IMX_ETOOLARGE);
        cr_assert_eq(toml_parse(big, TOML_MAX_INPUT, &root, NULL), 0);
        toml_free(root);
        free(big);
    }
    buf_release(&err);
}

Test(toml, values)
{
    struct toml_node *root = parse_ok("i = -9_223_372_036_854_775_808\n"
                                      "h = 0xDEAD_beef\n"
                                      "f = 6.02e+2_3\n"
                                      "s = \"\"\"\\\n   a\\u00e9\\U0001F600\"\"\"\n"
                                      "d = 1979-05-27 07:32:00.5z\n");

    cr_assert_eq(toml_get(root, "i")->i, INT64_MIN);
    cr_assert_eq(toml_get(root, "h")->i, 0xDEADBEEF);
    cr_assert_float_eq(toml_get(root, "f")->f, 6.02e23, 1e10);
    cr_assert_str_eq(toml_get(root, "s")->s, "a\xC3\xA9\xF0\x9F\x98\x80");
    cr_assert_eq(toml_get(root, "d")->type, TOML_DATETIME);
    cr_assert_str_eq(toml_get(root, "d")->s, "1979-05-27T07:32:00.5Z");
    toml_free(root);
}

struct err_case {
    const char *text;
    const char *want; /* exact first error line */
};

Test(toml, error_positions)
{
    static const struct err_case cases[] = {
        {"a = 1\nb = \n", "2:5: expected a value"},
        {"a = 1\na = 2\n", "2:1: a: duplicate key"},
        {"[t]\nx = 1\n[t]\n", "3:2: t: table already defined"},
        {"a = 1 2\n", "1:7: expected newline after value"},
        {"a.b = 1\n[a.b]\n", "2:4: a.b: table already defined"},
        {"x = 1\n  [x.y]\n", "2:4: x: is not a table"},
        {"a = [1]\n[[a]]\n", "2:3: a: cannot append to a value that is not an array of tables"},
        {"t = {a = 1}\nt.b = 2\n", "2:1: t: cannot add keys to this value with a dotted key"},
        {"s = \"abc\n", "1:9: newline in a single-line string"},
        {"s = \"\\q\"\n", "1:6: invalid escape sequence"},
        {"s = \"\\uD800\"\n", "1:6: escape is not a unicode scalar value"},
        {"n = 0123\n", "1:5: leading zeros not allowed"},
        {"n = 1__0\n", "1:5: invalid number"},
        {"n = 9223372036854775808\n", "1:5: integer out of range"},
        {"n = +0x10\n", "1:5: sign not allowed on a prefixed integer"},
        {"f = 1.\n", "1:5: invalid float"},
        {"d = 2021-02-29\n", "1:5: date out of range"},
        {"t = 24:00:00\n", "1:5: time out of range"},
        {"a = [1 2]\n", "1:8: expected ',' or ']' in array"},
        {"a = {b = 1,}\n", "1:12: expected a key"},
        {"a = {b = 1\n}\n", "1:11: expected ',' or '}' in inline table"},
        {"[a\n", "1:3: expected ']' to close the table header"},
        {"[[a]\n", "1:4: expected ']]' to close the table header"},
        {"a = 1\n\n  b\n", "3:4: expected '=' after key"},
        {"# ok\nc = \"\x01\"\n", "2:6: control character U+0001 not allowed"},
        {"a = 'x'\r\nb = 1\r", "2:6: carriage return not followed by newline"},
        {"a = \"\xC3\x28\"\n", "1:6: invalid UTF-8"},
        {"s = '''a''''''\n", "1:9: too many quotes at the end of a string"},
        {"k = \"\"\"abc\n", "1:5: unterminated string"},
        {"\"\"\"k\"\"\" = 1\n", "1:1: multi-line string cannot be a key"},
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        struct toml_node *root = NULL;
        struct buf err;
        int rc;

        buf_init(&err, 4096);
        rc = toml_parse(cases[i].text, strlen(cases[i].text), &root, &err);
        cr_expect_eq(rc, IMX_ESYNTAX, "case %zu: rc %d", i, rc);
        cr_expect_null(root);
        cr_expect_str_eq(buf_cstr(&err), cases[i].want, "case %zu: got '%s'", i, buf_cstr(&err));
        buf_release(&err);
    }
}
