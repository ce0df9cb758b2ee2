/*
 * simple.h - the one model of a simple-repository page (PEP 503/691/592/629/
 * 658/700/714/740/792), its parsers and its renderers. Pure: no I/O.
 *
 * Parsers (simple_html.c with libxml2, simple_json.c with jansson) fill a
 * struct simple_project from upstream bytes; renderers write it back out as
 * HTML or JSON for clients (SPEC.md section 4) or as the lossless "store"
 * JSON that the resolver keeps in LMDB.
 *
 * URLs: parsers do NOT resolve hrefs (that needs libcurl's URL API, which
 * lives in resolver/upstream.c). They store the href exactly as written minus
 * its #fragment in simple_file.url, and the first <base href> (HTML) in
 * simple_project.base_url. The resolver resolves and later rewrites urls
 * before rendering; renderers print simple_file.url as given.
 *
 * Ownership: every char * in these structs is owned by the struct and freed
 * by simple_project_release / simple_index_release. A NULL string means
 * "absent". Lifecycle: simple_project_init -> parse or fill -> render* ->
 * simple_project_release.
 */
#ifndef IMX_SIMPLE_H
#define IMX_SIMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct simple_hash {
    char *name;  /* lower-case algorithm: "sha256", "md5", ... */
    char *value; /* lower-case hex digest */
};

struct simple_hashes {
    struct simple_hash *v;
    size_t n;
};

enum simple_yank { SIMPLE_NOT_YANKED = 0, SIMPLE_YANKED };

struct simple_file {
    char *filename;              /* last path segment of url, percent-decoded (JSON: "filename") */
    char *url;                   /* href/url without fragment, not resolved */
    struct simple_hashes hashes; /* from #frag (HTML) or "hashes" (JSON) */
    char *requires_python;       /* unescaped text, NULL when absent */
    enum simple_yank yanked;
    char *yanked_reason;         /* NULL: no reason given (yanked or not) */
    bool core_metadata;          /* PEP 658/714: metadata advertised */
    struct simple_hashes core_metadata_hashes; /* may be empty when advertised as "true" */
    int64_t size;                /* -1 when unknown */
    char *upload_time;           /* ISO 8601 text as given, NULL when absent */
    char *provenance;            /* PEP 740 URL, NULL when absent */
};

struct simple_project {
    char *name;            /* as given by the page (JSON "name"), NULL for HTML */
    char *api_version;     /* "1.0".."1.4" from pypi:repository-version / meta.api-version; NULL absent */
    char *status;          /* PEP 792 project-status, NULL absent */
    char *status_reason;
    char *base_url;        /* first <base href> (HTML only), NULL absent */
    struct simple_file *files;
    size_t nfiles;
    size_t capfiles;
    char **versions;       /* JSON "versions" as given (PEP 700); may be empty */
    size_t nversions;
};

void simple_project_init(struct simple_project *p);
void simple_project_release(struct simple_project *p); /* NULL-safe; re-inits */
/* Append a zeroed file (size = -1) and return it (borrowed; valid until the next add). */
struct simple_file *simple_project_add_file(struct simple_project *p);
/* Deep copy of one file into a new slot of dst. */
struct simple_file *simple_project_copy_file(struct simple_project *dst, const struct simple_file *f);
/* The value of the named hash, or NULL. */
const char *simple_hashes_get(const struct simple_hashes *h, const char *name);
/* Set (replace or add) a hash; name and value are copied. */
void simple_hashes_set(struct simple_hashes *h, const char *name, const char *value);

/*
 * Parsing. Limits: at most `max_files` files (IMX_ETOOLARGE beyond).
 * Returns 0, IMX_ESYNTAX (not a page at all: e.g. JSON that is not an object,
 * or without "files"), IMX_ETOOLARGE. Malformed single links are skipped,
 * never fatal. <script>/<style> content never yields links.
 */
int simple_parse_html(const char *p, size_t len, size_t max_files,
                      struct simple_project *out /* OUT */);
int simple_parse_json(const char *p, size_t len, size_t max_files,
                      struct simple_project *out /* OUT */);

/*
 * Rendering for clients (SPEC.md section 4), appended to `out`.
 * `name` is the normalized project name. JSON: meta.api-version "1.1" when
 * every file has a size (then "size" and "versions" are written), else "1.0";
 * "versions" as given in p->versions; never "dist-info-metadata". HTML:
 * <!DOCTYPE html>, pypi:repository-version meta, one anchor per file with the
 * #sha256= fragment (else another hash), data-requires-python escaped,
 * data-yanked="reason"/"", data-dist-info-metadata and data-core-metadata
 * together, data-upload-time, data-size, data-provenance.
 * Returns 0 or IMX_ETOOLARGE (out's cap).
 */
int simple_render_json(const struct simple_project *p, const char *name, struct buf *out);
int simple_render_html(const struct simple_project *p, const char *name, struct buf *out);

/*
 * The store format: JSON that keeps every field of the model (including
 * api_version, base_url, name) so that simple_store_parse(simple_store_render(p))
 * equals p. Used for LMDB records; not served to clients.
 */
int simple_store_render(const struct simple_project *p, struct buf *out);
int simple_store_parse(const char *p, size_t len, struct simple_project *out /* OUT */);

/* ---- project lists (the index root, /simple/) ---- */

struct simple_index {
    char **names;   /* display names as listed (anchor text / JSON "name") */
    size_t n;
    size_t cap;
};

void simple_index_init(struct simple_index *ix);
void simple_index_release(struct simple_index *ix); /* NULL-safe */
void simple_index_add(struct simple_index *ix, const char *name, size_t len);
int simple_index_parse_json(const char *p, size_t len, size_t max_names,
                            struct simple_index *out /* OUT */);
/*
 * Streaming HTML parse of a project list (PyPI's is tens of MB): feed chunks
 * as they arrive. Calling sequence: simple_index_html_new -> _feed* -> _finish
 * (fills the index) -> _free.
 */
struct simple_index_html;
struct simple_index_html *simple_index_html_new(size_t max_names);
int simple_index_html_feed(struct simple_index_html *s, const char *p, size_t len);
int simple_index_html_finish(struct simple_index_html *s, struct simple_index *out /* OUT */);
void simple_index_html_free(struct simple_index_html *s); /* NULL-safe */
/* Render a project list; hrefs are "<normalized>/" relative to the list URL. */
int simple_index_render_html(const struct simple_index *ix, struct buf *out);
int simple_index_render_json(const struct simple_index *ix, struct buf *out);

#endif
