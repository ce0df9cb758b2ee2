/*
 * toml_test.c - runs the toml-test suite (TOML 1.0 file list) against
 * toml_parse: every valid/ document must parse to the tree described by its
 * tagged-JSON sibling, every invalid/ document must be rejected.
 *
 * The shared directory comes from $IMX_SHARED_DIR (set by ctest), falling
 * back to $IMX_SOURCE_DIR/../shared. Objects are compared order-insensitively,
 * floats numerically, date-times after normalisation (upper-case 'T'/'Z',
 * trailing zeros of fractional seconds dropped).
 */
#include "compat.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "toml.h"
#include "xalloc.h"

/*
 * Documents we knowingly disagree with, by path relative to tests/, and why.
 * None at the moment.
 */
static const struct {
    const char *name;
    const char *reason;
} toml_test_exceptions[] = {
    {NULL, NULL},
};

static bool is_exception(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(toml_test_exceptions); i++) {
        if (toml_test_exceptions[i].name && strcmp(toml_test_exceptions[i].name, name) == 0)
            return true;
    }
    return false;
}

static char *shared_dir(void)
{
    const char *d = getenv("IMX_SHARED_DIR");
    const char *src;

    if (d && *d)
        return xstrdup(d);
    src = getenv("IMX_SOURCE_DIR");
    return xasprintf("%s/../shared", src ? src : ".");
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[8192];
    size_t n;

    if (!f)
        return NULL;
    buf_init(&b, BUF_NOMAX);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b, len);
}

/*
 * jansson cannot hold NUL in object keys, so NUL (from \u0000) is mapped to
 * U+2400 SYMBOL FOR NULL on both sides of the comparison.
 */
static char *nul_to_symbol(const char *p, size_t len, size_t *outlen)
{
    struct buf b;
    size_t i;

    buf_init(&b, BUF_NOMAX);
    for (i = 0; i < len; i++) {
        if (p[i] == '\0')
            buf_appends(&b, "\xE2\x90\x80");
        else
            buf_putc(&b, p[i]);
    }
    return buf_detach(&b, outlen);
}

static json_t *tagged(const char *type, const char *value)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "value", json_string(value));
    return o;
}

static json_t *to_json(const struct toml_node *n)
{
    char tmp[64];
    json_t *j;
    size_t i;

    switch (n->type) {
    case TOML_TABLE:
        j = json_object();
        for (i = 0; i < n->nkids; i++) {
            size_t kl;
            char *k = nul_to_symbol(n->kids[i]->key, n->kids[i]->keylen, &kl);
            json_object_setn_new(j, k, kl, to_json(n->kids[i]));
            free(k);
        }
        return j;
    case TOML_ARRAY:
        j = json_array();
        for (i = 0; i < n->nkids; i++)
            json_array_append_new(j, to_json(n->kids[i]));
        return j;
    case TOML_STRING:
        {
            size_t sl;
            char *sv = nul_to_symbol(n->s, n->slen, &sl);
            j = json_object();
            json_object_set_new(j, "type", json_string("string"));
            json_object_set_new(j, "value", json_stringn(sv, sl));
            free(sv);
        }
        return j;
    case TOML_INTEGER:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)n->i);
        return tagged("integer", tmp);
    case TOML_FLOAT:
        if (isnan(n->f))
            snprintf(tmp, sizeof(tmp), "nan");
        else if (isinf(n->f))
            snprintf(tmp, sizeof(tmp), "%sinf", n->f < 0 ? "-" : "");
        else
            snprintf(tmp, sizeof(tmp), "%.17g", n->f);
        return tagged("float", tmp);
    case TOML_BOOL:
        return tagged("bool", n->b ? "true" : "false");
    case TOML_DATETIME:
        return tagged("datetime", n->s);
    case TOML_DATETIME_LOCAL:
        return tagged("datetime-local", n->s);
    case TOML_DATE_LOCAL:
        return tagged("date-local", n->s);
    case TOML_TIME_LOCAL:
        return tagged("time-local", n->s);
    }
    return json_null();
}

/* Canonical date-time text: 'T'/'Z' upper-case, fraction without trailing zeros. */
static void norm_datetime(const char *in, char *out, size_t outlen)
{
    size_t i, n = 0;
    char *dot;

    for (i = 0; in[i] && n + 1 < outlen; i++) {
        char c = in[i];
        if (c == 't' || (c == ' ' && i == 10))
            c = 'T';
        if (c == 'z')
            c = 'Z';
        out[n++] = c;
    }
    out[n] = '\0';
    dot = strchr(out, '.');
    if (dot) {
        char *e = dot + 1;
        char *last;
        while (*e >= '0' && *e <= '9')
            e++;
        last = e;
        while (last > dot + 1 && last[-1] == '0')
            last--;
        if (last == dot + 1)
            last = dot;
        memmove(last, e, strlen(e) + 1);
    }
}

static bool is_tagged(json_t *o)
{
    return json_is_object(o) && json_object_size(o) == 2 &&
           json_is_string(json_object_get(o, "type")) &&
           json_is_string(json_object_get(o, "value"));
}

static bool same(json_t *want, json_t *got, struct buf *why, const char *path);

static bool same_tagged(json_t *want, json_t *got, struct buf *why, const char *path)
{
    const char *wt = json_string_value(json_object_get(want, "type"));
    const char *gt = json_string_value(json_object_get(got, "type"));
    json_t *wv = json_object_get(want, "value");
    json_t *gv = json_object_get(got, "value");

    if (strcmp(wt, gt) != 0) {
        buf_printf(why, "%s: type %s, want %s", path, gt, wt);
        return false;
    }
    if (strcmp(wt, "float") == 0) {
        double a = strtod(json_string_value(wv), NULL);
        double b = strtod(json_string_value(gv), NULL);
        if ((isnan(a) && isnan(b)) || a == b)
            return true;
    } else if (strncmp(wt, "date", 4) == 0 || strcmp(wt, "time-local") == 0) {
        char a[128], b[128];
        norm_datetime(json_string_value(wv), a, sizeof(a));
        norm_datetime(json_string_value(gv), b, sizeof(b));
        if (strcmp(a, b) == 0)
            return true;
    } else if (json_equal(wv, gv)) {
        return true;
    }
    buf_printf(why, "%s: value '%s', want '%s'", path, json_string_value(gv),
               json_string_value(wv));
    return false;
}

static bool same(json_t *want, json_t *got, struct buf *why, const char *path)
{
    if (is_tagged(want)) {
        if (!is_tagged(got)) {
            buf_printf(why, "%s: not a scalar", path);
            return false;
        }
        return same_tagged(want, got, why, path);
    }
    if (json_is_object(want)) {
        const char *k;
        json_t *v;
        if (!json_is_object(got) || is_tagged(got) ||
            json_object_size(want) != json_object_size(got)) {
            buf_printf(why, "%s: table differs", path);
            return false;
        }
        json_object_foreach(want, k, v) {
            json_t *g = json_object_get(got, k);
            char *sub = xasprintf("%s.%s", path, k);
            bool ok = g && same(v, g, why, sub);
            if (!g)
                buf_printf(why, "%s: missing", sub);
            free(sub);
            if (!ok)
                return false;
        }
        return true;
    }
    if (json_is_array(want)) {
        size_t i;
        if (!json_is_array(got) || json_array_size(want) != json_array_size(got)) {
            buf_printf(why, "%s: array differs", path);
            return false;
        }
        for (i = 0; i < json_array_size(want); i++) {
            char *sub = xasprintf("%s[%zu]", path, i);
            bool ok = same(json_array_get(want, i), json_array_get(got, i), why, sub);
            free(sub);
            if (!ok)
                return false;
        }
        return true;
    }
    buf_printf(why, "%s: unexpected json", path);
    return false;
}

/* 1: pass, 0: fail (reason in why). */
static int run_valid(const char *dir, const char *name, struct buf *why)
{
    char *path = xasprintf("%s/toml-test/tests/%s", dir, name);
    char *jpath = xasprintf("%.*s.json", (int)(strlen(path) - 5), path);
    size_t len = 0;
    char *text = read_all(path, &len);
    struct toml_node *root = NULL;
    json_t *want = NULL, *got = NULL;
    json_error_t jerr;
    char *jtext = NULL;
    size_t jlen = 0;
    int ok = 0;
    int rc;

    if (!text) {
        buf_printf(why, "cannot read");
        goto out;
    }
    rc = toml_parse(text, len, &root, why);
    if (rc)
        goto out;
    jtext = read_all(jpath, &jlen);
    if (jtext) {
        /* see nul_to_symbol */
        size_t i;
        for (i = 0; i + 1 < jlen; i++) {
            if (jtext[i] != '\\')
                continue;
            if (i + 6 <= jlen && memcmp(jtext + i, "\\u0000", 6) == 0)
                memcpy(jtext + i, "\\u2400", 6);
            i++; /* skip the escaped character */
        }
        want = json_loadb(jtext, jlen, 0, &jerr);
    } else {
        snprintf(jerr.text, sizeof(jerr.text), "cannot read");
    }
    if (!want) {
        buf_printf(why, "cannot load json: %s", jerr.text);
        goto out;
    }
    got = to_json(root);
    ok = same(want, got, why, "$");
out:
    json_decref(want);
    json_decref(got);
    toml_free(root);
    free(jtext);
    free(text);
    free(path);
    free(jpath);
    return ok;
}

static int run_invalid(const char *dir, const char *name)
{
    char *path = xasprintf("%s/toml-test/tests/%s", dir, name);
    size_t len = 0;
    char *text = read_all(path, &len);
    struct toml_node *root = NULL;
    int rc = -1;

    if (text)
        rc = toml_parse(text, len, &root, NULL);
    toml_free(root);
    free(text);
    free(path);
    return rc != 0;
}

Test(toml_test, toml_1_0_0)
{
    char *dir = shared_dir();
    char *list = xasprintf("%s/toml-test/tests/files-toml-1.0.0", dir);
    FILE *f = fopen(list, "r");
    char line[1024];
    unsigned nv = 0, okv = 0, ni = 0, oki = 0, unexpected = 0;

    cr_assert_not_null(f, "cannot open %s", list);
    while (fgets(line, sizeof(line), f)) {
        size_t l = strlen(line);
        struct buf why;
        int ok;

        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (l < 5 || strcmp(line + l - 5, ".toml") != 0)
            continue;
        buf_init(&why, BUF_NOMAX);
        if (strncmp(line, "valid/", 6) == 0) {
            nv++;
            ok = run_valid(dir, line, &why);
            okv += ok;
        } else {
            ni++;
            ok = run_invalid(dir, line);
            oki += ok;
            if (!ok)
                buf_printf(&why, "accepted");
        }
        if (!ok && !is_exception(line)) {
            unexpected++;
            fprintf(stderr, "FAIL %s: %s\n", line, buf_cstr(&why));
        }
        buf_release(&why);
    }
    fclose(f);
    printf("toml-test: %u/%u valid, %u/%u invalid\n", okv, nv, oki, ni);
    fflush(stdout);
    cr_expect(nv > 0 && ni > 0, "empty file list");
    cr_expect_eq(unexpected, 0, "%u unexpected results", unexpected);
    free(list);
    free(dir);
}
