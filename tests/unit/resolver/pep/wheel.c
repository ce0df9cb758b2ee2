/*
 * Tests for resolver/pep/wheel.c: tests/vectors/wheels.txt (fields and the
 * SPEC 5.1 environment of each wheel; sdist names) and the marker results
 * the virtual-index rules depend on.
 */
#include "compat.h"

#include <criterion/criterion.h>

#include "buf.h"
#include "err.h"
#include "marker.h"
#include "wheel.h"

char **pep_vectors_read(const char *name, size_t *n);
void pep_vectors_free(char **lines, size_t n);

static void join_tags(struct buf *b, const struct str *t, size_t n)
{
    buf_putc(b, ' ');
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%s%.*s", i ? "," : "", STR_FMT(t[i]));
}

/* The env in wheels.txt form: "var=a,b; var=c" in enum order, or "-". */
static void env_string(const struct marker_env *env, struct buf *b)
{
    size_t start = b->len;

    for (int v = 0; v < MV__COUNT; v++) {
        size_t n = marker_env_count(env, (enum marker_var)v);
        if (n == 0)
            continue;
        buf_printf(b, "%s%s=", b->len > start ? "; " : "", marker_var_name((enum marker_var)v));
        for (size_t i = 0; i < n; i++) {
            struct str s = marker_env_value(env, (enum marker_var)v, i);
            buf_printf(b, "%s%.*s", i ? "," : "", STR_FMT(s));
        }
    }
    if (b->len == start)
        buf_putc(b, '-');
}

Test(wheel, vectors)
{
    size_t n, nwheel = 0, nsdist = 0;
    char **lines = pep_vectors_read("wheels.txt", &n);

    for (size_t i = 0; i < n; i++) {
        struct str line = str_from(lines[i]);
        ptrdiff_t bar = str_index(line, '|');
        struct str fn = str_trim(str_sub(line, 0, (size_t)bar));
        struct str rest = str_trim(str_sub(line, (size_t)bar + 1, line.len));
        struct buf got;

        cr_assert_geq(bar, 0, "bad line '%s'", lines[i]);
        buf_init(&got, 4096);
        if (str_starts_with(fn, STR_LIT("sdist "))) {
            struct sdist_name s;
            fn = str_sub(fn, 6, fn.len);
            if (sdist_parse(fn.p, fn.len, &s) == 0)
                buf_printf(&got, "%.*s %.*s %.*s", STR_FMT(s.name), STR_FMT(s.version),
                           STR_FMT(s.ext));
            else
                buf_appends(&got, "invalid");
            nsdist++;
        } else {
            struct wheel_name w;
            struct marker_env env, env2;
            if (wheel_parse(fn.p, fn.len, &w) == 0) {
                struct str build = w.build.len ? w.build : STR_LIT("-");
                buf_printf(&got, "%.*s %.*s %.*s", STR_FMT(w.name), STR_FMT(w.version),
                           STR_FMT(build));
                join_tags(&got, w.pythons, w.npythons);
                join_tags(&got, w.abis, w.nabis);
                join_tags(&got, w.platforms, w.nplatforms);
                buf_appends(&got, " | ");
                wheel_env(&w, &env);
                env_string(&env, &got);
                filename_env(fn.p, fn.len, &env2);
                cr_expect_eq(memcmp(&env, &env2, sizeof(env)), 0, "filename_env %s", lines[i]);
            } else {
                buf_appends(&got, "invalid");
                filename_env(fn.p, fn.len, &env2);
                for (int v = 0; v < MV__COUNT; v++)
                    cr_expect_eq(marker_env_count(&env2, (enum marker_var)v), 0);
            }
            nwheel++;
        }
        cr_expect(str_eq(rest, str_make(buf_cstr(&got), got.len)), "%.*s\n  want: %.*s\n  got:  %s",
                  STR_FMT(fn), STR_FMT(rest), buf_cstr(&got));
        buf_release(&got);
    }
    cr_assert_geq(nwheel, 30);
    cr_assert_geq(nsdist, 10);
    pep_vectors_free(lines, n);
}

/* SPEC 5: the cu124 view pins torch to the CUDA index on Linux and Windows. */
static enum tri eval_on(const char *marker, const char *filename)
{
    struct marker *m = NULL;
    struct marker_env env;
    enum tri t;

    cr_assert_eq(marker_parse(marker, strlen(marker), &m, NULL, 0), 0);
    filename_env(filename, strlen(filename), &env);
    t = marker_eval(m, &env);
    marker_free(m);
    return t;
}

Test(wheel, spec_examples)
{
    const char *pin = "sys_platform == 'linux' or sys_platform == 'win32'";

    cr_expect_eq(eval_on(pin, "torch-2.5.1+cu124-cp312-cp312-win_amd64.whl"), TRI_TRUE);
    cr_expect_eq(eval_on(pin, "torch-2.5.1+cu124-cp311-cp311-linux_x86_64.whl"), TRI_TRUE);
    cr_expect_eq(eval_on(pin, "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl"), TRI_FALSE);
    cr_expect_eq(eval_on(pin, "torch-2.5.1.tar.gz"), TRI_UNKNOWN);
    cr_expect_eq(eval_on(pin, "requests-2.32.3-py3-none-any.whl"), TRI_UNKNOWN);
    cr_expect_eq(eval_on("platform_machine == 'arm64'",
                         "x-1.0-cp312-cp312-macosx_11_0_universal2.whl"),
                 TRI_UNKNOWN);
    cr_expect_eq(eval_on("python_version >= '3.11'", "x-1.0-cp311.cp312-cp311.cp312-linux_x86_64.whl"),
                 TRI_TRUE);
    cr_expect_eq(eval_on("python_version >= '3.11'", "x-1.0-cp38-abi3-linux_x86_64.whl"),
                 TRI_UNKNOWN);
    cr_expect_eq(eval_on("implementation_name == 'cpython'", "x-1.0-cp38-abi3-linux_x86_64.whl"),
                 TRI_TRUE);
    cr_expect_eq(eval_on("platform_python_implementation == 'PyPy'",
                         "x-1.0-pp39-pypy39_pp73-win_amd64.whl"),
                 TRI_TRUE);
}

Test(wheel, out_untouched_on_error)
{
    struct wheel_name w;
    struct sdist_name s;

    memset(&w, 0x5a, sizeof(w));
    memset(&s, 0x5a, sizeof(s));
    cr_expect_eq(wheel_parse("a-1.0-py3-none.whl", 18, &w), IMX_ESYNTAX);
    cr_expect_eq(w.npythons, (size_t)0x5a5a5a5a5a5a5a5aULL);
    cr_expect_eq(sdist_parse("a.tar.gz", 8, &s), IMX_ESYNTAX);
    cr_expect_eq(s.name.len, (size_t)0x5a5a5a5a5a5a5a5aULL);
    const char *many = "a-1.0-py3-none-a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.whl";
    cr_expect_eq(wheel_parse(many, strlen(many), &w), IMX_ETOOLARGE);
}
