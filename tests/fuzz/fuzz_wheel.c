/*
 * fuzz_wheel.c - libFuzzer driver for resolver/pep/wheel.c.
 *
 * Invariants: every slice wheel_parse/sdist_parse return lies inside the
 * input; the parts reassemble to the input exactly (name-version[-build]-
 * py-abi-plat.whl; name-version+ext); tag sets split their field; the
 * version parses; wheel_env keeps each variable within its value cap.
 */
#include "compat.h"

#include <stdio.h>

#include "marker.h"
#include "version.h"
#include "wheel.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "invariant failed: %s\n", #c);                                \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static bool inside(struct str s, const char *p, size_t len)
{
    return s.len == 0 || (s.p >= p && s.p + s.len <= p + len);
}

/* a immediately followed, after one separator byte `sep`, by b */
static bool adjacent(struct str a, char sep, struct str b)
{
    return a.p + a.len + 1 == b.p && a.p[a.len] == sep;
}

static void check_tags(struct str field, const struct str *t, size_t n)
{
    CHECK(n >= 1 && n <= WHEEL_MAX_TAGS);
    CHECK(t[0].p == field.p);
    CHECK(t[n - 1].p + t[n - 1].len == field.p + field.len);
    for (size_t i = 0; i < n; i++) {
        CHECK(t[i].len > 0);
        if (i + 1 < n)
            CHECK(adjacent(t[i], '.', t[i + 1]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct wheel_name w;
    struct sdist_name s;
    struct marker_env env;
    struct version v;

    if (wheel_parse(p, size, &w) == 0) {
        CHECK(inside(w.name, p, size) && inside(w.version, p, size) &&
              inside(w.build, p, size) && inside(w.python, p, size) &&
              inside(w.abi, p, size) && inside(w.platform, p, size));
        CHECK(w.name.p == p);
        CHECK(w.platform.p + w.platform.len + 4 == p + size);
        CHECK(adjacent(w.name, '-', w.version));
        if (w.build.len) {
            CHECK(adjacent(w.version, '-', w.build) && adjacent(w.build, '-', w.python));
            CHECK(w.build.p[0] >= '0' && w.build.p[0] <= '9');
        } else {
            CHECK(adjacent(w.version, '-', w.python));
        }
        CHECK(adjacent(w.python, '-', w.abi) && adjacent(w.abi, '-', w.platform));
        CHECK(version_parse(w.version.p, w.version.len, &v) == 0);
        check_tags(w.python, w.pythons, w.npythons);
        check_tags(w.abi, w.abis, w.nabis);
        check_tags(w.platform, w.platforms, w.nplatforms);
        wheel_env(&w, &env);
        for (int i = 0; i < MV__COUNT; i++)
            CHECK(marker_env_count(&env, (enum marker_var)i) <= MARKER_ENV_MAX_VALUES);
        CHECK(marker_env_count(&env, MV_EXTRA) == 0);
    }
    filename_env(p, size, &env);
    if (sdist_parse(p, size, &s) == 0) {
        CHECK(s.name.p == p && s.name.len > 0);
        CHECK(adjacent(s.name, '-', s.version));
        CHECK(s.version.p + s.version.len == s.ext.p);
        CHECK(s.ext.p + s.ext.len == p + size);
        CHECK(version_parse(s.version.p, s.version.len, &v) == 0);
    }
    return 0;
}
