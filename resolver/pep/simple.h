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
/* Free the strings of one file and reset it (size = -1). NULL-safe. */
void simple_file_release(struct simple_file *f);
/* The value of the named hash, or NULL. */
const char *simple_hashes_get(const struct simple_hashes *h, const char *name);
/* Set (replace or add) a hash; name and value are copied, lower-cased. */
void simple_hashes_set(struct simple_hashes *h, const char *name, const char *value);

/*
 * Parsing. Limits: at most `max_files` files (IMX_ETOOLARGE beyond).
 * Returns 0, IMX_ESYNTAX (not a page at all: e.g. JSON that is not an object,
 * or without "files"), IMX_ETOOLARGE. Malformed single links are skipped,
 * never fatal. <script>/<style> content never yields links.
 * `out` must be initialised; it is written only on success (its previous
 * contents are released then) and left untouched on error.
 *
 * HTML: every <a href> is a file (anchors without href are skipped, as are
 * hrefs that are empty once the fragment is removed). Fragment `name=hex`
 * pairs (joined by '&') with a hashlib name become hashes. filename = last
 * path segment of the href (query stripped), percent-decoded unless that
 * would give '/', NUL or invalid UTF-8; the anchor text when the segment is
 * empty. data-yanked present (bare or "") = yanked, non-empty = reason.
 * data-core-metadata, else data-dist-info-metadata: "true" = advertised,
 * "<hash>=<hex>" = advertised with hash, anything else = not advertised.
 * First <base href> and first of each pypi:* meta win. Every string in the
 * result is valid UTF-8 (invalid bytes become U+FFFD).
 *
 * JSON: loaded with JSON_REJECT_DUPLICATES (a page repeating a key is
 * IMX_ESYNTAX: real pages never do, and guessing which value wins is how
 * clients disagree). Unknown keys ignored; a file without a string "url"
 * is skipped; no "filename" -> derived from the url as for HTML;
 * "yanked": "" is not yanked (as pip reads it); core-metadata, else
 * dist-info-metadata, else data-dist-info-metadata: true or {hashes} =
 * advertised, anything else not; null values are absent.
 */
int simple_parse_html(const char *p, size_t len, size_t max_files,
                      struct simple_project *out /* OUT */);
int simple_parse_json(const char *p, size_t len, size_t max_files,
                      struct simple_project *out /* OUT */);

/*
 * Rendering for clients (SPEC.md section 4), appended to `out`.
 * `name` is the normalized project name (NULL: p->name). JSON: meta.api-version
 * "1.1" when every file has a size and p->versions is non-empty (PEP 700
 * makes versions mandatory; a page without files also counts), else "1.0";
 * "versions" (as given in p->versions) only with 1.1; "size" whenever known;
 * "hashes" always ({} if none); requires-python, core-metadata (true or
 * {hashes}), upload-time, provenance only when present; "yanked"
 * false/true/"reason"; "project-status" when p->status is set; never
 * "dist-info-metadata"; compact, deterministic key order. HTML:
 * <!DOCTYPE html>, pypi:repository-version meta, one anchor per file with the
 * #sha256= fragment (else another hash), data-requires-python escaped,
 * data-yanked="reason"/"", data-dist-info-metadata and data-core-metadata
 * together, data-upload-time, data-size, data-provenance; & < > " ' escaped
 * everywhere; the repository-version is the JSON api-version rule's.
 * Returns 0 or IMX_ETOOLARGE (out's cap; out is then left as it was).
 */
int simple_render_json(const struct simple_project *p, const char *name, struct buf *out);
int simple_render_html(const struct simple_project *p, const char *name, struct buf *out);

/*
 * The store format: JSON that keeps every field of the model (including
 * api_version, base_url, name, absent vs empty strings, yanked without
 * reason, core metadata without hash) so that
 * simple_store_parse(simple_store_render(p)) equals p, and rendering that
 * again is byte-identical. Carries its own format version ("v":1). Used for
 * LMDB records; not served to clients.
 * simple_store_render: 0 or IMX_ETOOLARGE (out's cap; out left as it was).
 * simple_store_parse: 0 or IMX_ECORRUPT (not a store record of this
 * version); `out` as for the parsers (written only on success).
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
void simple_index_release(struct simple_index *ix); /* NULL-safe; re-inits */
/* Append a copy of (name, len). */
void simple_index_add(struct simple_index *ix, const char *name, size_t len);
/*
 * PEP 691 root page: {"projects":[{"name":...}]}; entries without a
 * non-empty string name are skipped. Returns 0, IMX_ESYNTAX (not an object
 * with a "projects" array, or duplicate keys), IMX_ETOOLARGE (more than
 * max_names). `out` must be initialised; written only on success.
 */
int simple_index_parse_json(const char *p, size_t len, size_t max_names,
                            struct simple_index *out /* OUT */);
/*
 * Streaming HTML parse of a project list (PyPI's is tens of MB): feed chunks
 * as they arrive; no tree is built. Names are the trimmed texts of <a>
 * elements (at most 1024 bytes; longer ones are dropped); text inside
 * <script>, <style> and <template> is never a name.
 * Calling sequence: simple_index_html_new -> _feed* -> _finish (fills the
 * index) -> _free. _new never fails (aborts on out-of-memory).
 * _feed: 0 or IMX_ETOOLARGE (more than max_names); errors are sticky: every
 * later _feed/_finish returns the same code. _finish: 0 or that code; `out`
 * must be initialised and is written only on success. _free may be called
 * in any state (without _finish too).
 */
struct simple_index_html;
struct simple_index_html *simple_index_html_new(size_t max_names);
int simple_index_html_feed(struct simple_index_html *s, const char *p, size_t len);
int simple_index_html_finish(struct simple_index_html *s, struct simple_index *out /* OUT */);
void simple_index_html_free(struct simple_index_html *s); /* NULL-safe */
/*
 * Render a project list; hrefs are "<normalized>/" relative to the list URL
 * (PEP 503 normalisation), anchor text the name as listed; JSON is
 * {"meta":{"api-version":"1.0"},"projects":[{"name":...}]}.
 * Returns 0 or IMX_ETOOLARGE (out's cap; out left as it was).
 */
int simple_index_render_html(const struct simple_index *ix, struct buf *out);
int simple_index_render_json(const struct simple_index *ix, struct buf *out);

#endif
