/*
 * simple_int.h - helpers shared by simple.c, simple_html.c and simple_json.c.
 * Private to the simple_* files of resolver/pep (habit 1: `simple__` prefix);
 * nothing outside them includes this header.
 */
#ifndef IMX_SIMPLE_INT_H
#define IMX_SIMPLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "simple.h"

/* Free everything a file owns and zero it (size back to -1). NULL-safe. */
void simple__file_release(struct simple_file *f);
void simple__hashes_release(struct simple_hashes *h);
void simple__hashes_copy(struct simple_hashes *dst, const struct simple_hashes *src);

/* A hash algorithm name we keep: [A-Za-z0-9_-]{1,32}. */
bool simple__hash_name_ok(const char *p, size_t len);
/* A digest we keep: [0-9A-Fa-f]{1,256}. */
bool simple__hex_ok(const char *p, size_t len);
/* The hash a renderer advertises: sha256, else the first one; NULL when none. */
const struct simple_hash *simple__preferred_hash(const struct simple_hashes *h);

/*
 * Copy (p, len) into fresh NUL-terminated memory that is valid UTF-8 without
 * NUL bytes: invalid sequences and NULs become U+FFFD. Everything taken from
 * libxml2 or percent-decoded passes through here so that every string of the
 * model can be written as JSON (jansson refuses invalid UTF-8).
 */
char *simple__utf8_dup(const char *p, size_t len);

/*
 * The filename a URL names: its last path segment with query and fragment
 * stripped, percent-decoded. When decoding would give a '/', a NUL or
 * invalid UTF-8 the segment is returned undecoded. NULL when the segment is
 * empty. Caller frees.
 */
char *simple__filename_from_url(const char *url);

/*
 * The api-version a client renderer claims: "1.1" when every file has a size
 * and (PEP 700 requires it) p->versions is non-empty or there are no files;
 * "1.0" otherwise. Static string.
 */
const char *simple__api_version(const struct simple_project *p);
/* The jansson-tree client renderer: the reference simple_render_json must match. */
int simple__render_json_tree(const struct simple_project *p, const char *name, struct buf *out);

/* Release dst and move src's contents into it; src is left initialised. */
void simple__project_move(struct simple_project *dst, struct simple_project *src);

/* Renderers writing into reserved room: copy a string literal at w, advance w. */
#define SIMPLE__PUT_LIT(w, lit) (memcpy((w), (lit), sizeof(lit) - 1), (w) += sizeof(lit) - 1)

#endif
