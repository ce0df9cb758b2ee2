/*
 * vectors.h - read the `a | b | c` tables in tests/vectors/ for the server
 * tests. Lines starting with '#' and blank lines are skipped; fields are
 * split on '|' and trimmed. Header-only (static functions) because only the
 * server tests use it.
 */
#ifndef IMX_TEST_SERVER_VECTORS_H
#define IMX_TEST_SERVER_VECTORS_H

#include <stdio.h>

#include <criterion/criterion.h>

#include "xalloc.h"

#define VEC_MAXF 4

struct vec_row {
    unsigned lineno;
    size_t nfields;
    char *field[VEC_MAXF]; /* point into line; trimmed, NUL-terminated */
    char line[2048];
};

static char *vec_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Open tests/vectors/<name> under $IMX_SOURCE_DIR (criterion asserts on failure). */
static FILE *vec_open(const char *name)
{
    const char *src = getenv("IMX_SOURCE_DIR");
    char *path;
    FILE *f;

    cr_assert_not_null(src, "IMX_SOURCE_DIR is not set (run through ctest)");
    path = xasprintf("%s/tests/vectors/%s", src, name);
    f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open '%s'", path);
    free(path);
    return f;
}

/* Next data row; false at end of file. */
static bool vec_next(FILE *f, struct vec_row *row)
{
    while (fgets(row->line, sizeof(row->line), f)) {
        char *s;
        char *bar;

        row->lineno++;
        s = vec_trim(row->line);
        if (*s == '\0' || *s == '#')
            continue;
        row->nfields = 0;
        for (;;) {
            bar = strchr(s, '|');
            if (bar)
                *bar = '\0';
            cr_assert_lt(row->nfields, VEC_MAXF, "line %u: too many fields", row->lineno);
            row->field[row->nfields++] = vec_trim(s);
            if (!bar)
                break;
            s = bar + 1;
        }
        return true;
    }
    return false;
}

/* "<none>" means absent (NULL), "<empty>" the empty string. */
static const char *vec_value(const char *s)
{
    if (strcmp(s, "<none>") == 0)
        return NULL;
    if (strcmp(s, "<empty>") == 0)
        return "";
    return s;
}

#endif
