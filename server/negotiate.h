/*
 * negotiate.h - content negotiation for simple-API pages (PEP 691) and
 * Accept-Encoding. Pure functions: no allocation, no I/O, thread-safe.
 *
 * The three representations a page can have:
 *   NEG_JSON      application/vnd.pypi.simple.v1+json
 *   NEG_V1_HTML   application/vnd.pypi.simple.v1+html
 *   NEG_TEXT_HTML text/html
 *
 * Notation: comments here cannot spell the wildcards literally, so STAR/STAR
 * is the full wildcard range and TYPE/STAR a type wildcard (e.g. text/STAR).
 *
 * Algorithm (SPEC.md section 4, protocol-notes.md 6.2):
 *  1. A ?format= value that is exactly one of the five type strings (the
 *     three above, application/vnd.pypi.simple.latest+json and
 *     application/vnd.pypi.simple.latest+html, which mean v1) decides. Any
 *     other format value is ignored and Accept decides.
 *  2. Accept is parsed per RFC 9110: comma-separated media ranges with
 *     optional whitespace; parameters after ';' (`;q=0.1` and `; q=0.1`);
 *     names compared case-insensitively; q is 0..1 with at most three
 *     decimals. A member that does not parse (bad token, `STAR/html`, q=2,
 *     q=0.1234, quoted string never closed...) is dropped; other members
 *     still count. Parameters other than q are ignored.
 *  3. For each offer the q of the most specific matching range counts
 *     (exact > TYPE/STAR > STAR/STAR; the latest+json/latest+html types match the
 *     v1 offers exactly). Equally specific ranges for one offer: the highest q
 *     (so the result never depends on member order). q=0 excludes.
 *  4. The highest q wins. Ties: offers named explicitly (exact or TYPE/STAR)
 *     beat offers that only STAR/STAR matched; among explicit offers JSON >
 *     v1+html > text/html; among STAR/STAR-only offers text/html > v1+html > JSON
 *     (a client that just says "anything" gets PyPI's default, text/html).
 *  5. No Accept header, an empty one, one with no parsable member, or one
 *     longer than NEGOTIATE_ACCEPT_MAX bytes is treated as STAR/STAR: text/html.
 *     (Decision: a header we refuse to parse is "no preference", as PyPI
 *     does for anything it cannot match, not a 406.)
 *  6. Parsable members but every offer at q=0 or unmatched: IMX_EINVAL (406).
 */
#ifndef IMX_NEGOTIATE_H
#define IMX_NEGOTIATE_H

#include <stdbool.h>

enum negotiate_type {
    NEG_JSON = 0,
    NEG_V1_HTML,
    NEG_TEXT_HTML,
};

/* Accept headers longer than this are treated as absent. */
#define NEGOTIATE_ACCEPT_MAX 8192

/*
 * Choose a page representation.
 *   accept        [in] the Accept header value, NULL when absent
 *   format_param  [in] the ?format= query value, NULL when absent
 *   out           [out] written only on success
 * Returns 0, or IMX_EINVAL when nothing offered is acceptable (answer 406).
 */
int negotiate_page(const char *accept, const char *format_param,
                   enum negotiate_type *out /* OUT */);

/* The exact Content-Type string for t (static; never NULL, never freed). */
const char *negotiate_content_type(enum negotiate_type t);

/*
 * Whether a response may be gzip-encoded given the Accept-Encoding value
 * (NULL when absent: false). True when `gzip` (or its alias `x-gzip`) has
 * q > 0, or when `*` has q > 0 and gzip is not listed with q=0. Headers
 * longer than NEGOTIATE_ACCEPT_MAX give false.
 */
bool negotiate_accepts_gzip(const char *accept_encoding);

#endif
