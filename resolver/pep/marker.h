/*
 * marker.h - PEP 508 environment markers, evaluated in three-valued logic
 * against a partial environment.
 *
 * Calling sequence:
 *   marker_parse(text) -> struct marker *   (once, e.g. at config load)
 *   marker_env_init(&env); marker_env_add(&env, MV_..., "value")...
 *                                            (once per file; see wheel_env)
 *   marker_eval(m, &env) -> TRI_*            (any number of times)
 *   marker_free(m)
 *
 * A partial environment knows, for each variable, either nothing
 * (unknown) or a small set of values the variable may take, e.g.
 * platform_machine in {x86_64, arm64} for a macOS universal2 wheel. A
 * comparison is TRUE if it holds for every value in the set(s), FALSE if
 * for none, UNKNOWN otherwise, and UNKNOWN if a variable is unknown.
 * "and"/"or" are Kleene's. A full environment (one value per variable) thus
 * gives packaging's answer.
 *
 * Comparisons follow packaging: if "<op><right side>" is a valid PEP 440
 * specifier and the left side a valid version, the specifier decides
 * (pre-releases admitted); otherwise the strings are compared (in, not in,
 * and the six ordering operators; ~= is false, === is string equality).
 * Values of `extra` are compared after PEP 503 normalisation (PEP 685).
 *
 * A struct marker is immutable after parsing; it may be shared between
 * threads for evaluation. struct marker_env is a plain value (no heap).
 */
#ifndef IMX_MARKER_H
#define IMX_MARKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

enum tri {
    TRI_FALSE = 0,
    TRI_TRUE = 1,
    TRI_UNKNOWN = 2,
};

enum marker_var {
    MV_OS_NAME,
    MV_SYS_PLATFORM,
    MV_PLATFORM_MACHINE,
    MV_PLATFORM_PYTHON_IMPLEMENTATION,
    MV_PLATFORM_RELEASE,
    MV_PLATFORM_SYSTEM,
    MV_PLATFORM_VERSION,
    MV_PYTHON_VERSION,
    MV_PYTHON_FULL_VERSION,
    MV_IMPLEMENTATION_NAME,
    MV_IMPLEMENTATION_VERSION,
    MV_EXTRA,
    MV__COUNT
};

enum marker_op {
    MO_LT,         /* <  */
    MO_LE,         /* <= */
    MO_NE,         /* != */
    MO_EQ,         /* == */
    MO_GE,         /* >= */
    MO_GT,         /* >  */
    MO_COMPATIBLE, /* ~= */
    MO_ARBITRARY,  /* === */
    MO_IN,         /* in */
    MO_NOT_IN,     /* not in */
};

#define MARKER_ENV_MAX_VALUES 8  /* values per variable */
#define MARKER_ENV_POOL 1024     /* bytes for all values together */
#define MARKER_MAX_DEPTH 64      /* nesting of parentheses */
#define MARKER_MAX_CMPS 1024     /* comparisons in one expression */

struct marker_env {
    struct {
        uint8_t n; /* 0: unknown */
        uint16_t off[MARKER_ENV_MAX_VALUES];
        uint16_t len[MARKER_ENV_MAX_VALUES];
    } vars[MV__COUNT];
    size_t used;
    char pool[MARKER_ENV_POOL];
};

struct marker; /* opaque parse tree */

/* Make every variable unknown. */
void marker_env_init(struct marker_env *env);

/*
 * Add one possible value of variable v (copied into env). Adding a value
 * already present is a no-op, so uniting compressed tag sets is just
 * adding each one.
 * @return 0; IMX_EINVAL for a bad v; IMX_ETOOLARGE when v already has
 *         MARKER_ENV_MAX_VALUES values or the pool is full (env unchanged).
 */
int marker_env_add(struct marker_env *env, enum marker_var v, const char *value);
int marker_env_addn(struct marker_env *env, enum marker_var v, const char *p, size_t len);

/* Make v unknown again (its pool bytes are not reclaimed). */
void marker_env_forget(struct marker_env *env, enum marker_var v);

/* Number of known values of v (0: unknown), and the i-th (borrowed from env). */
size_t marker_env_count(const struct marker_env *env, enum marker_var v);
struct str marker_env_value(const struct marker_env *env, enum marker_var v, size_t i);

/* Canonical name ("platform_machine"); static storage. NULL for a bad v. */
const char *marker_var_name(enum marker_var v);

/*
 * Look a variable name up: the PEP 508 names plus packaging's legacy
 * spellings (os.name, sys.platform, platform.machine, platform.version,
 * platform.python_implementation, python_implementation).
 * @return 0 and *out; IMX_ENOTFOUND.
 */
int marker_var_from_name(const char *p, size_t len, enum marker_var *out /* OUT */);

/*
 * Parse a marker expression.
 * @param[in]  p, len  the text (no leading ';'); need not be NUL-terminated
 * @param[out] out     on success a new tree the caller frees with marker_free
 * @param[out] err     optional (NULL/0): on failure a NUL-terminated message
 *                     such as "expected a marker variable or quoted string at column 5"
 * @return 0; IMX_ESYNTAX; IMX_ETOOLARGE (nesting deeper than MARKER_MAX_DEPTH,
 *         or more than MARKER_MAX_CMPS comparisons).
 */
int marker_parse(const char *p, size_t len, struct marker **out /* OUT */, char *err,
                 size_t errlen);

/* Free a tree. NULL-safe. */
void marker_free(struct marker *m);

/* Evaluate (see the top of this file). Never fails, never allocates. */
enum tri marker_eval(const struct marker *m, const struct marker_env *env);

/* Kleene connectives, for callers combining results. */
enum tri tri_and(enum tri a, enum tri b);
enum tri tri_or(enum tri a, enum tri b);
const char *tri_name(enum tri t); /* "true", "false", "unknown" */

/* Does the expression mention variable v anywhere? */
bool marker_uses(const struct marker *m, enum marker_var v);

/*
 * Append a canonical rendering: variables by canonical name, strings in
 * double quotes (single if they contain '"'), single spaces, parentheses
 * only where the tree needs them. marker_parse of the result gives a tree
 * that marker_equal calls equal.
 * @return 0, or IMX_ETOOLARGE from `out` (then `out` is unchanged).
 */
int marker_to_string(const struct marker *m, struct buf *out);

/* Structural equality of two trees. */
bool marker_equal(const struct marker *a, const struct marker *b);

#endif
