/*
 * Tests for resolver/pep/marker.c: tests/vectors/markers.txt (three-valued
 * evaluation over partial environments with value sets), rendering
 * round trips, the environment API and parse errors.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"
#include "marker.h"

char **pep_vectors_read(const char *name, size_t *n);
void pep_vectors_free(char **lines, size_t n);

/* "sys_platform=linux,darwin; python_version=3.11" or "-" */
static void env_from(struct str s, struct marker_env *env)
{
    marker_env_init(env);
    if (str_eq_cstr(s, "-"))
        return;
    while (s.len) {
        ptrdiff_t semi = str_index(s, ';');
        struct str item = str_trim(semi < 0 ? s : str_sub(s, 0, (size_t)semi));
        ptrdiff_t eq = str_index(item, '=');
        enum marker_var v;
        struct str vals;

        s = semi < 0 ? STR_NULL : str_sub(s, (size_t)semi + 1, s.len);
        cr_assert_geq(eq, 1, "bad env item '%.*s'", STR_FMT(item));
        cr_assert_eq(marker_var_from_name(item.p, (size_t)eq, &v), 0);
        vals = str_sub(item, (size_t)eq + 1, item.len);
        for (;;) {
            ptrdiff_t comma = str_index(vals, ',');
            struct str one = comma < 0 ? vals : str_sub(vals, 0, (size_t)comma);
            cr_assert_eq(marker_env_addn(env, v, one.p, one.len), 0);
            if (comma < 0)
                break;
            vals = str_sub(vals, (size_t)comma + 1, vals.len);
        }
    }
}

static void check_roundtrip(const struct marker *m, const char *src)
{
    struct buf b1, b2;
    struct marker *m2 = NULL;
    char err[128];

    buf_init(&b1, 1 << 16);
    buf_init(&b2, 1 << 16);
    cr_assert_eq(marker_to_string(m, &b1), 0);
    cr_expect_eq(marker_parse(b1.p, b1.len, &m2, err, sizeof(err)), 0, "%s -> %s: %s", src,
                 buf_cstr(&b1), err);
    if (m2) {
        cr_expect(marker_equal(m, m2), "%s -> %s", src, buf_cstr(&b1));
        cr_expect_eq(marker_to_string(m2, &b2), 0);
        cr_expect_str_eq(buf_cstr(&b2), buf_cstr(&b1));
    }
    marker_free(m2);
    buf_release(&b1);
    buf_release(&b2);
}

Test(marker, vectors)
{
    size_t n, count = 0, nunknown = 0, nset = 0;
    char **lines = pep_vectors_read("markers.txt", &n);

    for (size_t i = 0; i < n; i++) {
        struct str line = str_from(lines[i]);
        ptrdiff_t b2 = str_rindex(line, '|');
        struct str head, text, envs, want;
        ptrdiff_t b1;
        struct marker *m = NULL;
        struct marker_env env;
        char err[128] = "";
        int rc;

        cr_assert_geq(b2, 0, "bad line '%s'", lines[i]);
        want = str_trim(str_sub(line, (size_t)b2 + 1, line.len));
        head = str_sub(line, 0, (size_t)b2);
        b1 = str_rindex(head, '|');
        cr_assert_geq(b1, 0, "bad line '%s'", lines[i]);
        text = str_trim(str_sub(head, 0, (size_t)b1));
        envs = str_trim(str_sub(head, (size_t)b1 + 1, head.len));
        rc = marker_parse(text.p, text.len, &m, err, sizeof(err));
        count++;
        if (str_eq_cstr(want, "invalid")) {
            cr_expect_eq(rc, IMX_ESYNTAX, "%s", lines[i]);
            cr_expect_neq(err[0], '\0', "error message for %s", lines[i]);
            continue;
        }
        cr_assert_eq(rc, 0, "%s: %s", lines[i], err);
        env_from(envs, &env);
        const char *got = tri_name(marker_eval(m, &env));
        cr_expect(str_eq_cstr(want, got), "%s: got %s", lines[i], got);
        nunknown += str_eq_cstr(want, "unknown");
        nset += str_index(envs, ',') >= 0;
        check_roundtrip(m, lines[i]);
        marker_free(m);
    }
    cr_assert_geq(count, 60);
    cr_assert_geq(nunknown, 10);
    cr_assert_geq(nset, 10);
    pep_vectors_free(lines, n);
}

Test(marker, kleene)
{
    static const enum tri all[] = {TRI_FALSE, TRI_TRUE, TRI_UNKNOWN};

    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(tri_and(TRI_FALSE, all[i]), TRI_FALSE);
        cr_expect_eq(tri_or(TRI_TRUE, all[i]), TRI_TRUE);
        cr_expect_eq(tri_and(TRI_TRUE, all[i]), all[i]);
        cr_expect_eq(tri_or(TRI_FALSE, all[i]), all[i]);
    }
    cr_expect_eq(tri_and(TRI_UNKNOWN, TRI_UNKNOWN), TRI_UNKNOWN);
    cr_expect_eq(tri_or(TRI_UNKNOWN, TRI_UNKNOWN), TRI_UNKNOWN);
}

Test(marker, uses_and_render)
{
    const char *src = "extra == 'gpu' or (os.name==\"nt\" and (python_version >= '3' or "
                      "'\"q\"' in platform_version))";
    struct marker *m = NULL;
    struct buf b;

    buf_init(&b, 4096);
    cr_assert_eq(marker_parse(src, strlen(src), &m, NULL, 0), 0);
    cr_expect(marker_uses(m, MV_EXTRA));
    cr_expect(marker_uses(m, MV_OS_NAME));
    cr_expect(marker_uses(m, MV_PLATFORM_VERSION));
    cr_expect_not(marker_uses(m, MV_SYS_PLATFORM));
    cr_assert_eq(marker_to_string(m, &b), 0);
    cr_expect_str_eq(buf_cstr(&b), "extra == \"gpu\" or os_name == \"nt\" and "
                                   "(python_version >= \"3\" or '\"q\"' in platform_version)");
    check_roundtrip(m, src);
    marker_free(m);
    buf_release(&b);
    marker_free(NULL);
}

Test(marker, right_nested_chains_keep_parens)
{
    const char *src = "os_name == \"a\" and (os_name == \"b\" and os_name == \"c\")";
    struct marker *m = NULL;
    struct buf b;

    buf_init(&b, 4096);
    cr_assert_eq(marker_parse(src, strlen(src), &m, NULL, 0), 0);
    cr_assert_eq(marker_to_string(m, &b), 0);
    cr_expect_str_eq(buf_cstr(&b), src);
    marker_free(m);
    buf_release(&b);
}

Test(marker, errors_and_limits)
{
    struct marker *m = (struct marker *)&m;
    char err[128];
    struct buf b;

    cr_expect_eq(marker_parse("os_name ==", 10, &m, err, sizeof(err)), IMX_ESYNTAX);
    cr_expect_str_eq(err, "expected a marker variable or quoted string at column 11");
    cr_expect_eq(m, (struct marker *)&m, "out untouched on error");
    cr_expect_eq(marker_parse("os_name ~ 'a'", 13, &m, err, sizeof(err)), IMX_ESYNTAX);
    cr_expect_str_eq(err, "expected a marker operator at column 9");

    buf_init(&b, BUF_NOMAX);
    for (int i = 0; i <= MARKER_MAX_DEPTH; i++)
        buf_putc(&b, '(');
    buf_appends(&b, "os_name == 'a'");
    for (int i = 0; i <= MARKER_MAX_DEPTH; i++)
        buf_putc(&b, ')');
    cr_expect_eq(marker_parse(b.p, b.len, &m, err, sizeof(err)), IMX_ETOOLARGE);
    buf_reset(&b);
    buf_appends(&b, "os_name == 'a'");
    for (int i = 0; i < MARKER_MAX_CMPS; i++)
        buf_appends(&b, " or os_name == 'a'");
    cr_expect_eq(marker_parse(b.p, b.len, &m, err, sizeof(err)), IMX_ETOOLARGE);
    buf_release(&b);
}

Test(marker, env_api)
{
    struct marker_env env;
    char big[MARKER_ENV_POOL + 1];

    marker_env_init(&env);
    cr_expect_eq(marker_env_count(&env, MV_PLATFORM_MACHINE), 0);
    cr_expect_eq(marker_env_add(&env, MV_PLATFORM_MACHINE, "x86_64"), 0);
    cr_expect_eq(marker_env_add(&env, MV_PLATFORM_MACHINE, "x86_64"), 0);
    cr_expect_eq(marker_env_count(&env, MV_PLATFORM_MACHINE), 1, "duplicates are merged");
    for (int i = 1; i < MARKER_ENV_MAX_VALUES; i++) {
        char v[8] = {'v', (char)('0' + i), 0};
        cr_expect_eq(marker_env_add(&env, MV_PLATFORM_MACHINE, v), 0);
    }
    cr_expect_eq(marker_env_add(&env, MV_PLATFORM_MACHINE, "one-too-many"), IMX_ETOOLARGE);
    cr_expect_eq(marker_env_count(&env, MV_PLATFORM_MACHINE), MARKER_ENV_MAX_VALUES);
    cr_expect(str_eq_cstr(marker_env_value(&env, MV_PLATFORM_MACHINE, 0), "x86_64"));
    memset(big, 'x', sizeof(big));
    cr_expect_eq(marker_env_addn(&env, MV_OS_NAME, big, sizeof(big)), IMX_ETOOLARGE);
    cr_expect_eq(marker_env_count(&env, MV_OS_NAME), 0);
    cr_expect_eq(marker_env_add(&env, MV__COUNT, "x"), IMX_EINVAL);
    marker_env_forget(&env, MV_PLATFORM_MACHINE);
    cr_expect_eq(marker_env_count(&env, MV_PLATFORM_MACHINE), 0);
    cr_expect_str_eq(marker_var_name(MV_PYTHON_FULL_VERSION), "python_full_version");
    cr_expect_null(marker_var_name(MV__COUNT));
}
