/*
 * wheel.h - wheel and sdist filenames, and the environment a wheel's tags
 * imply (SPEC 5.1).
 *
 * Parsers return slices into the filename (borrowed: keep the filename
 * alive as long as the struct). wheel_env / filename_env fill a
 * struct marker_env for marker_eval:
 *
 *   struct marker_env env;
 *   filename_env(fn, strlen(fn), &env);     -- sdist/unparsable: all unknown
 *   switch (marker_eval(m, &env)) ...
 *
 * Mapping (anything not listed leaves the variable unknown):
 *   manylinux*_ARCH, musllinux_*_ARCH, linux_ARCH
 *       sys_platform=linux platform_system=Linux os_name=posix platform_machine=ARCH
 *   win_amd64 / win32 / win_arm64
 *       sys_platform=win32 platform_system=Windows os_name=nt
 *       platform_machine=AMD64 / x86 / ARM64
 *   macosx_X_Y_ARCH
 *       sys_platform=darwin platform_system=Darwin os_name=posix, platform_machine:
 *       arm64, x86_64, i386, ppc, ppc64 as written; universal2 {x86_64, arm64};
 *       intel {i386, x86_64}; fat {i386, ppc}; fat3 {i386, ppc, x86_64};
 *       fat64 {x86_64, ppc64}; fat32 {i386, ppc}; universal {i386, ppc, ppc64, x86_64}
 *   any, or any platform tag not above in the set: all four platform variables unknown
 *   A compressed set unites the values of its tags.
 *   cpXY: implementation_name=cpython platform_python_implementation=CPython
 *         python_version=X.Y (a set gives a set); ppXY: pypy/PyPy, X.Y.
 *   abi tag abi3: python_version unknown (abi3 means "this version or later").
 *   py3, py2.py3, or any other tag in the set: implementation and python_version unknown.
 */
#ifndef IMX_WHEEL_H
#define IMX_WHEEL_H

#include <stddef.h>

#include "marker.h"
#include "str.h"

#define WHEEL_MAX_TAGS 16 /* members of one compressed tag set */

struct wheel_name {
    struct str name;    /* distribution as written ("torch", "typing_extensions") */
    struct str version; /* as written; a valid PEP 440 version */
    struct str build;   /* build tag, starts with a digit; STR_NULL when absent */
    struct str python;  /* whole tag fields, e.g. "cp311.cp312" */
    struct str abi;
    struct str platform;
    struct str pythons[WHEEL_MAX_TAGS]; /* the fields split on '.' */
    size_t npythons;
    struct str abis[WHEEL_MAX_TAGS];
    size_t nabis;
    struct str platforms[WHEEL_MAX_TAGS];
    size_t nplatforms;
};

struct sdist_name {
    struct str name;    /* as written */
    struct str version; /* as written; a valid PEP 440 version */
    struct str ext;     /* ".tar.gz", ".zip", ... as written */
};

/*
 * Parse "{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl"
 * (".whl" in any case).
 * @param[out] out  written only on success; slices borrow p
 * @return 0; IMX_ESYNTAX (not a wheel name: wrong number of parts, empty
 *         part or tag, invalid version, build tag not starting with a
 *         digit); IMX_ETOOLARGE (more than WHEEL_MAX_TAGS in a set, or from
 *         version_parse).
 */
int wheel_parse(const char *p, size_t len, struct wheel_name *out /* OUT */);

/*
 * Parse an sdist name "{name}-{version}{ext}" with ext one of .tar.gz .tgz
 * .tar.bz2 .tbz .tar.xz .txz .tar.Z .tar .zip (any case). Best effort: the
 * name ends at the first '-' whose remainder is a valid PEP 440 version,
 * so "foo-bar-1.0" is (foo-bar, 1.0) and "foo-1.0-1" is (foo, 1.0-1).
 * @param[out] out  written only on success; slices borrow p
 * @return 0; IMX_ESYNTAX (unknown extension, no name-version split).
 */
int sdist_parse(const char *p, size_t len, struct sdist_name *out /* OUT */);

/*
 * Fill `out` (it is initialised first) with the environment w's tags
 * imply, per the table above. A variable that would need more than
 * MARKER_ENV_MAX_VALUES values is left unknown. Never fails.
 */
void wheel_env(const struct wheel_name *w, struct marker_env *out /* OUT */);

/*
 * wheel_env for a wheel filename; for anything else (sdists, unparsable
 * names) every variable is unknown. Never fails.
 */
void filename_env(const char *p, size_t len, struct marker_env *out /* OUT */);

#endif
