/*
 * version.h - PEP 440 versions: parse, compare, normalise.
 *
 * A parsed version is a fixed-size struct (no heap): the numeric parts are
 * decoded, the local segments are slices into the parsed input. So a
 * struct version is valid only as long as the bytes it was parsed from.
 *
 * Accepted syntax is packaging's VERSION_PATTERN (case-insensitive, leading
 * "v", surrounding whitespace, separators "-_." around pre/post/dev parts,
 * spellings alpha/beta/c/pre/preview/rev/r, implicit post "1.0-1", implicit
 * numbers "1.0a" = "1.0a0", epochs "1!2.0", local "+abc.1" with "-_" as
 * separators). Numbers must fit in uint64_t.
 */
#ifndef IMX_VERSION_H
#define IMX_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

#define VERSION_MAX_RELEASE 32 /* release segments, "1.2.3" has 3 */
#define VERSION_MAX_LOCAL 16   /* local segments, "+cu124.x" has 2 */

enum version_pre {
    VERSION_PRE_NONE = 0,
    VERSION_PRE_A,  /* a, alpha */
    VERSION_PRE_B,  /* b, beta */
    VERSION_PRE_RC, /* rc, c, pre, preview */
};

struct version {
    uint64_t epoch;
    uint64_t release[VERSION_MAX_RELEASE];
    size_t nrelease; /* >= 1 */
    enum version_pre pre;
    uint64_t pre_n;
    bool has_post;
    uint64_t post;
    bool has_dev;
    uint64_t dev;
    /* Borrowed slices into the parsed input, spelled as written (any case). */
    struct str local[VERSION_MAX_LOCAL];
    size_t nlocal; /* 0: no local version */
};

/*
 * Parse a PEP 440 version.
 *
 * @param[in]  p, len  the text; need not be NUL-terminated
 * @param[out] out     written only on success; its local slices point into p
 * @return 0; IMX_ESYNTAX when the text is not a PEP 440 version;
 *         IMX_ETOOLARGE when a number passes UINT64_MAX or there are more
 *         than VERSION_MAX_RELEASE release or VERSION_MAX_LOCAL local segments.
 */
int version_parse(const char *p, size_t len, struct version *out /* OUT */);

/*
 * PEP 440 total order: <0, 0 or >0 as a <, ==, > b. Epoch, then release
 * (zero-padded: 1.0 == 1.0.0), then dev < pre < final < post, then local
 * (none < any; numeric segments > alphanumeric ones; segment-wise).
 * Never fails, never allocates.
 */
int version_compare(const struct version *a, const struct version *b);

/*
 * Parse both texts and compare them.
 * @param[out] out  written only on success: <0, 0, >0
 * @return 0, or version_parse's error for the first text that fails.
 */
int version_compare_str(const char *a, size_t alen, const char *b, size_t blen,
                        int *out /* OUT */);

/*
 * Append the canonical string of v (packaging's str(Version)): "1!2.0rc1.post2.dev3+abc.7".
 * @return 0, or IMX_ETOOLARGE when `out` would pass its cap (then the
 *         buffer holds exactly what it held before).
 */
int version_format(const struct version *v, struct buf *out);

/*
 * Parse [p, p+len) and append its canonical form to `out`.
 * @return 0; version_parse's errors (nothing appended);
 *         IMX_ETOOLARGE from `out` (nothing appended).
 */
int version_normalize(const char *p, size_t len, struct buf *out);

/* A dev release or a pre-release ("1.0a1", "1.0.dev0", "1.0.post1.dev1"). */
bool version_is_prerelease(const struct version *v);
/* Has a post-release segment. */
bool version_is_postrelease(const struct version *v);
/* True iff a and b have the same epoch and (zero-padded) release: base_version equality. */
bool version_same_base(const struct version *a, const struct version *b);

#endif
