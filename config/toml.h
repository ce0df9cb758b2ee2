/*
 * toml.h - a TOML 1.0 parser producing a tree of nodes.
 *
 * Calling sequence:
 *   struct toml_node *root = NULL;
 *   rc = toml_parse(text, len, &root, &err);
 *   ... walk root (read-only) with toml_get() / kids[] ...
 *   toml_free(root);
 *
 * The whole document is parsed in one call; the tree is built only when the
 * document is valid TOML 1.0 (duplicate keys, redefined tables, appending to
 * static arrays or inline tables, bad UTF-8 and control characters are all
 * rejected). Every node records where it starts so that callers can report
 * `file:line:col` for semantic errors.
 *
 * Limits: the input is at most TOML_MAX_INPUT bytes and no node lies deeper
 * than TOML_MAX_DEPTH below the root (tables, arrays and dotted-key
 * components all count), so walking a tree recursively is safe.
 */
#ifndef IMX_TOML_H
#define IMX_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TOML_MAX_INPUT ((size_t)1 << 20)
#define TOML_MAX_DEPTH 128

enum toml_type {
    TOML_TABLE = 0,
    TOML_ARRAY,
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME,       /* offset date-time, e.g. 1979-05-27T07:32:00Z */
    TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    TOML_DATE_LOCAL,     /* 1979-05-27 */
    TOML_TIME_LOCAL,     /* 07:32:00.999 */
};

struct toml_node {
    enum toml_type type;
    /*
     * 1-based position (columns count characters, not bytes) where the node
     * starts: the first character of its key for a table member (the '[' of
     * the header for a table defined by [a.b] or [[a.b]]), the value itself
     * for an array element.
     */
    unsigned line, col;
    unsigned vline, vcol; /* where the value starts ('[' of a header for tables) */
    char *key;            /* member name (NUL-terminated, may contain NUL); NULL in arrays */
    size_t keylen;
    struct toml_node **kids; /* TOML_TABLE: members in document order; TOML_ARRAY: elements */
    size_t nkids;
    /*
     * TOML_STRING: the decoded value, NUL-terminated, `slen` bytes (it may
     * contain NUL from \u0000). Date/time types: the canonical text with an
     * upper-case 'T' separator and 'Z', fractional seconds as written.
     */
    char *s;
    size_t slen;
    int64_t i; /* TOML_INTEGER */
    double f;  /* TOML_FLOAT */
    bool b;    /* TOML_BOOL */

    /* Private to toml.c. */
    unsigned flags_;
    unsigned depth_;
    size_t cap_;
    uint32_t *hash_;
    size_t hcap_;
};

/*
 * Parse `len` bytes at `p` (need not be NUL-terminated; a leading UTF-8 BOM
 * is skipped). On success *out receives the root table, owned by the caller
 * (toml_free). Errors:
 *   IMX_ESYNTAX    the text is not valid TOML 1.0; one line
 *                  `line:col: message` (no newline) is appended to err
 *                  (may be NULL)
 *   IMX_ETOOLARGE  len > TOML_MAX_INPUT, or nesting deeper than
 *                  TOML_MAX_DEPTH (also with a message)
 * *out is written only on success.
 */
int toml_parse(const char *p, size_t len, struct toml_node **out /* OUT */, struct buf *err);

/* Free a tree returned by toml_parse. NULL-safe. */
void toml_free(struct toml_node *root);

/*
 * The member `key` of a table, or NULL when absent or when `table` is NULL
 * or not a table. Borrowed: lives as long as the tree.
 */
const struct toml_node *toml_get(const struct toml_node *table, const char *key);

/* "table", "array", "string", "integer", "float", "boolean", "datetime",
 * "local datetime", "local date", "local time". Static. */
const char *toml_type_name(enum toml_type t);

#endif
