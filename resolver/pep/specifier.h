/*
 * specifier.h - PEP 440 version specifiers and specifier sets
 * (">=3.8,<4,!=3.9.*,~=2.2,==1.0.*,===foo").
 *
 * Used for requires-python filtering and by marker.c for version
 * comparisons. Pre-releases are always admitted (as packaging does with
 * prereleases=True, which is what marker evaluation uses): the caller
 * decides separately whether it wants pre-releases at all.
 *
 * Parsed specifiers borrow slices of the input text (the `text` field);
 * keep the input alive as long as the struct.
 */
#ifndef IMX_SPECIFIER_H
#define IMX_SPECIFIER_H

#include <stdbool.h>
#include <stddef.h>

#include "str.h"
#include "version.h"

#define SPECIFIER_MAX 16 /* clauses in one set */

enum specifier_op {
    SPECIFIER_COMPATIBLE, /* ~= */
    SPECIFIER_EQ,         /* == (wildcard when .wildcard) */
    SPECIFIER_NE,         /* != (wildcard when .wildcard) */
    SPECIFIER_LE,         /* <= */
    SPECIFIER_GE,         /* >= */
    SPECIFIER_LT,         /* < */
    SPECIFIER_GT,         /* > */
    SPECIFIER_ARBITRARY,  /* === */
};

struct specifier {
    enum specifier_op op;
    bool wildcard;     /* "==1.0.*" / "!=1.0.*" */
    struct str text;   /* the version text after the operator, trimmed (borrowed) */
    struct version v;  /* parsed `text` (without ".*"); unset for === */
};

struct specifier_set {
    struct specifier items[SPECIFIER_MAX];
    size_t n; /* 0: matches every version */
};

/*
 * Parse one clause such as ">= 3.8" or "==1.0.*" (whitespace around the
 * operator and the version is allowed).
 * @param[out] out  written only on success; borrows from p
 * @return 0; IMX_ESYNTAX for an unknown operator, a malformed version, or a
 *         version form the operator forbids (local with <,>,<=,>=,~=;
 *         wildcard with anything but ==/!=; ~= with one release segment);
 *         IMX_ETOOLARGE from version_parse.
 */
int specifier_parse_one(const char *p, size_t len, struct specifier *out /* OUT */);

/*
 * Parse a comma-separated set. Empty clauses (",", trailing comma) are
 * ignored as packaging does, so "" and ">=3.6," parse.
 * @param[out] out  written only on success; borrows from p
 * @return 0; IMX_ESYNTAX as specifier_parse_one; IMX_ETOOLARGE for more than
 *         SPECIFIER_MAX clauses or from version_parse.
 */
int specifier_parse(const char *p, size_t len, struct specifier_set *out /* OUT */);

/* Does v satisfy the clause? PEP 440 rules, pre-releases admitted. */
bool specifier_matches(const struct specifier *s, const struct version *v);

/* Does v satisfy every clause of the set? (An empty set: true.) */
bool specifier_contains(const struct specifier_set *set, const struct version *v);

#endif
