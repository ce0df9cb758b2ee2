/*
 * wheel.c - wheel/sdist filename parsing and the tag -> environment
 * mapping of SPEC 5.1 (the table is in wheel.h).
 *
 * The mapping is deliberately conservative: whatever a tag does not pin
 * down stays unknown, because the virtual-index rules treat "unknown" as
 * "may match" (a file is only dropped when a marker is definitely false).
 */
#include "compat.h"

#include "err.h"
#include "version.h"
#include "wheel.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Split a compressed tag field on '.'; every member must be non-empty. */
static int split_tags(struct str field, struct str *tags, size_t *n)
{
    size_t count = 0;

    for (;;) {
        ptrdiff_t dot = str_index(field, '.');
        struct str t = dot < 0 ? field : str_sub(field, 0, (size_t)dot);
        if (t.len == 0)
            return IMX_ESYNTAX;
        if (count == WHEEL_MAX_TAGS)
            return IMX_ETOOLARGE;
        tags[count++] = t;
        if (dot < 0)
            break;
        field = str_sub(field, (size_t)dot + 1, field.len);
    }
    *n = count;
    return 0;
}

int wheel_parse(const char *p, size_t len, struct wheel_name *out)
{
    struct wheel_name w;
    struct str s = str_make(p, len);
    struct str parts[6];
    struct version v;
    size_t nparts = 0;
    int rc = IMX_ESYNTAX;

    memset(&w, 0, sizeof(w));
    if (s.len < 4 || !str_eq_nocase(str_sub(s, s.len - 4, s.len), STR_LIT(".whl")))
        goto out;
    s.len -= 4;
    for (;;) {
        ptrdiff_t dash = str_index(s, '-');
        if (nparts == ARRAY_SIZE(parts))
            goto out;
        parts[nparts] = dash < 0 ? s : str_sub(s, 0, (size_t)dash);
        if (parts[nparts].len == 0)
            goto out;
        nparts++;
        if (dash < 0)
            break;
        s = str_sub(s, (size_t)dash + 1, s.len);
    }
    if (nparts != 5 && nparts != 6)
        goto out;
    w.name = parts[0];
    w.version = parts[1];
    if (nparts == 6) {
        w.build = parts[2];
        if (!is_digit(w.build.p[0]))
            goto out;
    }
    w.python = parts[nparts - 3];
    w.abi = parts[nparts - 2];
    w.platform = parts[nparts - 1];
    rc = version_parse(w.version.p, w.version.len, &v);
    if (rc == 0)
        rc = split_tags(w.python, w.pythons, &w.npythons);
    if (rc == 0)
        rc = split_tags(w.abi, w.abis, &w.nabis);
    if (rc == 0)
        rc = split_tags(w.platform, w.platforms, &w.nplatforms);
    if (rc != 0)
        goto out;
    *out = w;
out:
    return rc;
}

int sdist_parse(const char *p, size_t len, struct sdist_name *out)
{
    static const char *const exts[] = {".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz",
                                       ".txz",    ".tar.Z", ".tar",   ".zip"};
    struct str s = str_make(p, len);
    struct str ext = STR_NULL;
    struct version v;

    for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
        struct str e = str_from(exts[i]);
        if (s.len > e.len && str_eq_nocase(str_sub(s, s.len - e.len, s.len), e)) {
            ext = str_sub(s, s.len - e.len, s.len);
            s.len -= e.len;
            break;
        }
    }
    if (!ext.p)
        return IMX_ESYNTAX;
    for (size_t i = 1; i + 1 < s.len; i++) {
        if (s.p[i] != '-')
            continue;
        if (version_parse(s.p + i + 1, s.len - i - 1, &v) == 0) {
            out->name = str_sub(s, 0, i);
            out->version = str_sub(s, i + 1, s.len);
            out->ext = ext;
            return 0;
        }
    }
    return IMX_ESYNTAX;
}

/* ---- tags -> environment ---- */

struct plat {
    const char *sys_platform;
    const char *system;
    const char *os_name;
    struct str machines[4];
    size_t nmachines;
};

/* "DIGITS_DIGITS_" at the start of s: consume it. */
static bool take_glibc_pair(struct str *s)
{
    for (int k = 0; k < 2; k++) {
        size_t i = 0;
        while (i < s->len && is_digit(s->p[i]))
            i++;
        if (i == 0 || i >= s->len || s->p[i] != '_')
            return false;
        *s = str_sub(*s, i + 1, s->len);
    }
    return true;
}

static bool mac_arch(struct str arch, struct plat *pl)
{
    static const struct {
        const char *arch;
        const char *m[4];
    } table[] = {
        {"arm64", {"arm64"}},
        {"x86_64", {"x86_64"}},
        {"i386", {"i386"}},
        {"ppc", {"ppc"}},
        {"ppc64", {"ppc64"}},
        {"universal2", {"x86_64", "arm64"}},
        {"intel", {"i386", "x86_64"}},
        {"fat", {"i386", "ppc"}},
        {"fat3", {"i386", "ppc", "x86_64"}},
        {"fat64", {"x86_64", "ppc64"}},
        {"fat32", {"i386", "ppc"}},
        {"universal", {"i386", "ppc", "ppc64", "x86_64"}},
    };

    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        if (!str_eq_cstr(arch, table[i].arch))
            continue;
        for (size_t j = 0; j < 4 && table[i].m[j]; j++)
            pl->machines[pl->nmachines++] = str_from(table[i].m[j]);
        return true;
    }
    return false;
}

/* What one platform tag says; false when it says nothing usable. */
static bool platform_of(struct str tag, struct plat *pl)
{
    static const char *const linux_prefixes[] = {"manylinux1_", "manylinux2010_",
                                                 "manylinux2014_", "linux_"};
    struct str arch = STR_NULL;

    memset(pl, 0, sizeof(*pl));
    if (str_starts_with(tag, STR_LIT("manylinux_")) || str_starts_with(tag, STR_LIT("musllinux_"))) {
        arch = str_sub(tag, 10, tag.len);
        if (!take_glibc_pair(&arch))
            return false;
    } else {
        for (size_t i = 0; i < ARRAY_SIZE(linux_prefixes); i++) {
            struct str pre = str_from(linux_prefixes[i]);
            if (str_starts_with(tag, pre)) {
                arch = str_sub(tag, pre.len, tag.len);
                break;
            }
        }
    }
    if (arch.p) {
        if (arch.len == 0)
            return false;
        pl->sys_platform = "linux";
        pl->system = "Linux";
        pl->os_name = "posix";
        pl->machines[pl->nmachines++] = arch;
        return true;
    }
    if (str_eq_cstr(tag, "win_amd64") || str_eq_cstr(tag, "win32") ||
        str_eq_cstr(tag, "win_arm64")) {
        pl->sys_platform = "win32";
        pl->system = "Windows";
        pl->os_name = "nt";
        pl->machines[pl->nmachines++] = str_eq_cstr(tag, "win_amd64")   ? STR_LIT("AMD64")
                                        : str_eq_cstr(tag, "win32")     ? STR_LIT("x86")
                                                                        : STR_LIT("ARM64");
        return true;
    }
    if (str_starts_with(tag, STR_LIT("macosx_"))) {
        arch = str_sub(tag, 7, tag.len);
        if (!take_glibc_pair(&arch) || !mac_arch(arch, pl))
            return false;
        pl->sys_platform = "darwin";
        pl->system = "Darwin";
        pl->os_name = "posix";
        return true;
    }
    return false;
}

/* Add, or on overflow make the variable unknown for good (*dead). */
static void add_or_kill(struct marker_env *env, enum marker_var v, struct str val, bool *dead)
{
    if (*dead)
        return;
    if (marker_env_addn(env, v, val.p, val.len) != 0) {
        marker_env_forget(env, v);
        *dead = true;
    }
}

static void platform_env(const struct wheel_name *w, struct marker_env *env)
{
    static const enum marker_var vars[] = {MV_SYS_PLATFORM, MV_PLATFORM_SYSTEM, MV_OS_NAME,
                                           MV_PLATFORM_MACHINE};
    struct plat pls[WHEEL_MAX_TAGS];
    bool dead[ARRAY_SIZE(vars)] = {false};

    for (size_t i = 0; i < w->nplatforms; i++) {
        /* One tag we cannot map (any, android, freebsd...) means the wheel
         * may run anywhere we know nothing about: leave all unknown. */
        if (!platform_of(w->platforms[i], &pls[i]))
            return;
    }
    for (size_t i = 0; i < w->nplatforms; i++) {
        add_or_kill(env, MV_SYS_PLATFORM, str_from(pls[i].sys_platform), &dead[0]);
        add_or_kill(env, MV_PLATFORM_SYSTEM, str_from(pls[i].system), &dead[1]);
        add_or_kill(env, MV_OS_NAME, str_from(pls[i].os_name), &dead[2]);
        for (size_t j = 0; j < pls[i].nmachines; j++)
            add_or_kill(env, MV_PLATFORM_MACHINE, pls[i].machines[j], &dead[3]);
    }
}

static void python_env(const struct wheel_name *w, struct marker_env *env)
{
    bool dead_impl = false, dead_pi = false, dead_ver = false;
    bool abi3 = false;

    for (size_t i = 0; i < w->nabis; i++)
        abi3 = abi3 || str_eq_cstr(w->abis[i], "abi3");
    for (size_t i = 0; i < w->npythons; i++) {
        struct str t = w->pythons[i];
        struct str digits = str_sub(t, 2, t.len);
        bool cp = str_starts_with(t, STR_LIT("cp"));
        bool pp = str_starts_with(t, STR_LIT("pp"));
        bool num = digits.len >= 2 && digits.len <= 3;
        char ver[8];

        for (size_t j = 0; j < digits.len; j++)
            num = num && is_digit(digits.p[j]);
        if ((!cp && !pp) || !num) {
            /* py3, py2.py3, cp3, graalpy...: nothing we can rely on. */
            marker_env_forget(env, MV_IMPLEMENTATION_NAME);
            marker_env_forget(env, MV_PLATFORM_PYTHON_IMPLEMENTATION);
            marker_env_forget(env, MV_PYTHON_VERSION);
            return;
        }
        add_or_kill(env, MV_IMPLEMENTATION_NAME, cp ? STR_LIT("cpython") : STR_LIT("pypy"),
                    &dead_impl);
        add_or_kill(env, MV_PLATFORM_PYTHON_IMPLEMENTATION,
                    cp ? STR_LIT("CPython") : STR_LIT("PyPy"), &dead_pi);
        /* "311" is 3.11: the first digit is the major version. */
        ver[0] = digits.p[0];
        ver[1] = '.';
        memcpy(ver + 2, digits.p + 1, digits.len - 1);
        add_or_kill(env, MV_PYTHON_VERSION, str_make(ver, digits.len + 1), &dead_ver);
    }
    if (abi3)
        marker_env_forget(env, MV_PYTHON_VERSION);
}

void wheel_env(const struct wheel_name *w, struct marker_env *out)
{
    marker_env_init(out);
    platform_env(w, out);
    python_env(w, out);
}

void filename_env(const char *p, size_t len, struct marker_env *out)
{
    struct wheel_name w;

    if (wheel_parse(p, len, &w) == 0)
        wheel_env(&w, out);
    else
        marker_env_init(out);
}
