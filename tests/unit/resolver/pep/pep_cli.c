/*
 * pep_cli.c - line-oriented driver over resolver/pep for differential.py,
 * which feeds the same questions to Python's `packaging` and compares.
 *
 * Each stdin line is TAB-separated; one answer line per input line:
 *   cmp  A B        -> -1 | 0 | 1 | invalid
 *   norm A          -> canonical version | invalid
 *   spec SET V      -> true | false | invalid
 *   marker M ENV    -> true | false | unknown | invalid
 *                      ENV: var=v1|v2;var=v  (unlisted variables unknown)
 *   mstr M          -> marker_to_string(M) | invalid
 *   wheel FILENAME  -> name version build py abi plat ; env dump | invalid
 *   name N          -> normalized-name valid(0/1)
 */
#include "compat.h"

#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "marker.h"
#include "pkgname.h"
#include "specifier.h"
#include "version.h"
#include "wheel.h"

#define MAXF 4

static size_t split(char *line, char **f)
{
    size_t n = 0;
    char *p = line;

    f[n++] = p;
    while ((p = strchr(p, '\t')) != NULL && n < MAXF) {
        *p++ = '\0';
        f[n++] = p;
    }
    return n;
}

static int parse_env(const char *s, struct marker_env *env)
{
    struct str rest = str_from(s);

    marker_env_init(env);
    while (rest.len) {
        ptrdiff_t semi = str_index(rest, ';');
        struct str item = semi < 0 ? rest : str_sub(rest, 0, (size_t)semi);
        ptrdiff_t eq = str_index(item, '=');
        struct str vals;
        enum marker_var v;

        rest = semi < 0 ? STR_NULL : str_sub(rest, (size_t)semi + 1, rest.len);
        if (item.len == 0)
            continue;
        if (eq < 0 || marker_var_from_name(item.p, (size_t)eq, &v) != 0)
            return IMX_EINVAL;
        vals = str_sub(item, (size_t)eq + 1, item.len);
        for (;;) {
            ptrdiff_t bar = str_index(vals, '|');
            struct str one = bar < 0 ? vals : str_sub(vals, 0, (size_t)bar);
            if (marker_env_addn(env, v, one.p, one.len) != 0)
                return IMX_EINVAL;
            if (bar < 0)
                break;
            vals = str_sub(vals, (size_t)bar + 1, vals.len);
        }
    }
    return 0;
}

static void print_env(const struct marker_env *env)
{
    for (int v = 0; v < MV__COUNT; v++) {
        size_t n = marker_env_count(env, (enum marker_var)v);
        if (n == 0)
            continue;
        printf(" %s=", marker_var_name((enum marker_var)v));
        for (size_t i = 0; i < n; i++) {
            struct str s = marker_env_value(env, (enum marker_var)v, i);
            printf("%s%.*s", i ? "|" : "", STR_FMT(s));
        }
    }
}

static void print_tags(const struct str *t, size_t n)
{
    putchar(' ');
    for (size_t i = 0; i < n; i++)
        printf("%s%.*s", i ? "," : "", STR_FMT(t[i]));
}

static void do_line(char *line)
{
    char *f[MAXF];
    size_t n = split(line, f);
    struct buf b;

    buf_init(&b, 1 << 20);
    if (strcmp(f[0], "cmp") == 0 && n == 3) {
        int r;
        if (version_compare_str(f[1], strlen(f[1]), f[2], strlen(f[2]), &r) != 0)
            puts("invalid");
        else
            printf("%d\n", r < 0 ? -1 : r > 0);
    } else if (strcmp(f[0], "norm") == 0 && n == 2) {
        if (version_normalize(f[1], strlen(f[1]), &b) != 0)
            puts("invalid");
        else
            puts(buf_cstr(&b));
    } else if (strcmp(f[0], "spec") == 0 && n == 3) {
        struct specifier_set set;
        struct version v;
        if (specifier_parse(f[1], strlen(f[1]), &set) != 0 ||
            version_parse(f[2], strlen(f[2]), &v) != 0)
            puts("invalid");
        else
            puts(specifier_contains(&set, &v) ? "true" : "false");
    } else if ((strcmp(f[0], "marker") == 0 && n == 3) || (strcmp(f[0], "mstr") == 0 && n == 2)) {
        struct marker *m = NULL;
        struct marker_env env;
        char err[128];
        if (marker_parse(f[1], strlen(f[1]), &m, err, sizeof(err)) != 0)
            printf("invalid %s\n", err);
        else if (n == 2)
            puts(marker_to_string(m, &b) == 0 ? buf_cstr(&b) : "invalid");
        else if (parse_env(f[2], &env) != 0)
            puts("invalid env");
        else
            puts(tri_name(marker_eval(m, &env)));
        marker_free(m);
    } else if (strcmp(f[0], "wheel") == 0 && n == 2) {
        struct wheel_name w;
        struct marker_env env;
        if (wheel_parse(f[1], strlen(f[1]), &w) != 0) {
            puts("invalid");
        } else {
            wheel_env(&w, &env);
            struct str build = w.build.len ? w.build : STR_LIT("-");
            printf("%.*s %.*s %.*s", STR_FMT(w.name), STR_FMT(w.version), STR_FMT(build));
            print_tags(w.pythons, w.npythons);
            print_tags(w.abis, w.nabis);
            print_tags(w.platforms, w.nplatforms);
            printf(" ;");
            print_env(&env);
            putchar('\n');
        }
    } else if (strcmp(f[0], "name") == 0 && n == 2) {
        if (pkgname_normalize(f[1], strlen(f[1]), &b) != 0)
            puts("invalid");
        else
            printf("%s %d\n", buf_cstr(&b), pkgname_valid(f[1], strlen(f[1])));
    } else {
        puts("bad-command");
    }
    buf_release(&b);
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        do_line(line);
        fflush(stdout);
    }
    free(line);
    return 0;
}
