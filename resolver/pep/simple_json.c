/*
 * simple_json.c - PEP 691 JSON (with the PEP 700/740/792 keys) with jansson:
 * project pages parsed into struct simple_project and rendered for clients,
 * the lossless "store" JSON the resolver keeps, and project lists.
 *
 * Decisions:
 * - Documents are loaded with JSON_REJECT_DUPLICATES (STYLE.md 4.4). PyPI,
 *   devpi and every captured page serialise dicts, so real pages never
 *   repeat a key; a page that does is ambiguous (Python's json keeps the
 *   last value, other clients the first) and is refused as IMX_ESYNTAX
 *   rather than guessed at.
 * - Unknown keys are ignored (PEP 691). A file without a string "url" is
 *   skipped; a missing "filename" is derived from the url.
 * - "yanked": "" counts as not yanked, as pip reads it.
 * - jansson guarantees valid UTF-8 without NUL in what it parses; strings
 *   rendered go through jstr(), which repairs invalid UTF-8 that a caller
 *   may have put into the model instead of dropping the key.
 * Output is compact and keys keep insertion order (jansson >= 2.8), so a
 * render is a deterministic function of the model.
 */
#include "compat.h"

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "simple.h"
#include "simple_int.h"
#include "xalloc.h"

#define SIMPLE_STORE_VERSION 1

/* ---- small jansson helpers ---- */

/* A new JSON string; invalid UTF-8 is repaired rather than lost. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL) {
        char *fixed = simple__utf8_dup(s, strlen(s));
        j = json_string(fixed);
        free(fixed);
    }
    return j;
}

static void set_new(json_t *obj, const char *key, json_t *value)
{
    if (json_object_set_new(obj, key, value) != 0) {
        char *fixed = simple__utf8_dup(key, strlen(key));
        json_object_set_new(obj, fixed, value);
        free(fixed);
    }
}

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value != NULL)
        set_new(obj, key, jstr(value));
}

static json_t *hashes_obj(const struct simple_hashes *h)
{
    json_t *o = json_object();
    for (size_t i = 0; i < h->n; i++)
        set_new(o, h->v[i].name, jstr(h->v[i].value));
    return o;
}

static int dump_cb(const char *p, size_t n, void *data)
{
    return buf_append(data, p, n) == 0 ? 0 : -1;
}

/* Append j to out, compact; all or nothing. Returns 0 or IMX_ETOOLARGE. */
static int dump(const json_t *j, struct buf *out)
{
    size_t start = out->len;

    if (json_dump_callback(j, dump_cb, out, JSON_COMPACT) != 0) {
        out->len = start;
        if (out->p != NULL)
            out->p[out->len] = '\0';
        return IMX_ETOOLARGE;
    }
    return 0;
}

/* A copy of a JSON string value, NULL when j is not a string. */
static char *str_or_null(const json_t *j)
{
    return json_is_string(j) ? xstrdup(json_string_value(j)) : NULL;
}

/* Well-formed hashes of a JSON object into h; others are skipped. */
static void take_hashes(const json_t *obj, struct simple_hashes *h)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj))
        return;
    json_object_foreach((json_t *)obj, k, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || !simple__hash_name_ok(k, strlen(k)) || !simple__hex_ok(s, strlen(s)))
            continue;
        simple_hashes_set(h, k, s);
    }
}

/* ---- project pages ---- */

static void take_core_metadata(const json_t *file, struct simple_file *f)
{
    /* PEP 714: the first key present decides, even when it says false */
    static const char *const keys[] = {"core-metadata", "dist-info-metadata",
                                       "data-dist-info-metadata"};
    const json_t *v = NULL;

    for (size_t i = 0; i < ARRAY_SIZE(keys) && v == NULL; i++)
        v = json_object_get(file, keys[i]);
    if (json_is_true(v)) {
        f->core_metadata = true;
    } else if (json_is_object(v)) {
        f->core_metadata = true;
        take_hashes(v, &f->core_metadata_hashes);
    }
}

static void take_yanked(const json_t *v, struct simple_file *f)
{
    if (json_is_true(v)) {
        f->yanked = SIMPLE_YANKED;
    } else if (json_is_string(v) && json_string_length(v) > 0) {
        f->yanked = SIMPLE_YANKED;
        f->yanked_reason = xstrdup(json_string_value(v));
    }
}

/* One files[] entry; returns 0 or IMX_ETOOLARGE. Unusable entries are skipped. */
static int take_file(const json_t *file, size_t max_files, struct simple_project *p)
{
    const char *url = json_string_value(json_object_get(file, "url"));
    const char *fn = json_string_value(json_object_get(file, "filename"));
    const json_t *size;
    char *filename;
    struct simple_file *f;

    if (!json_is_object(file) || url == NULL || url[0] == '\0')
        return 0;
    filename = (fn != NULL && fn[0] != '\0') ? xstrdup(fn) : simple__filename_from_url(url);
    if (filename == NULL)
        return 0;
    if (p->nfiles >= max_files) {
        free(filename);
        return IMX_ETOOLARGE;
    }
    f = simple_project_add_file(p);
    f->filename = filename;
    f->url = xstrdup(url);
    take_hashes(json_object_get(file, "hashes"), &f->hashes);
    f->requires_python = str_or_null(json_object_get(file, "requires-python"));
    take_yanked(json_object_get(file, "yanked"), f);
    take_core_metadata(file, f);
    size = json_object_get(file, "size");
    if (json_is_integer(size) && json_integer_value(size) >= 0)
        f->size = (int64_t)json_integer_value(size);
    f->upload_time = str_or_null(json_object_get(file, "upload-time"));
    f->provenance = str_or_null(json_object_get(file, "provenance"));
    return 0;
}

int simple_parse_json(const char *p, size_t len, size_t max_files, struct simple_project *out)
{
    struct simple_project proj;
    json_error_t jerr;
    json_t *root;
    const json_t *files, *status, *versions, *v;
    size_t i;
    int rc = 0;

    simple_project_init(&proj);
    root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
    files = json_object_get(root, "files");
    if (!json_is_object(root) || !json_is_array(files)) {
        rc = IMX_ESYNTAX;
        goto out;
    }
    proj.name = str_or_null(json_object_get(root, "name"));
    proj.api_version = str_or_null(json_object_get(json_object_get(root, "meta"), "api-version"));
    status = json_object_get(root, "project-status");
    proj.status = str_or_null(json_object_get(status, "status"));
    if (proj.status != NULL)
        proj.status_reason = str_or_null(json_object_get(status, "reason"));
    versions = json_object_get(root, "versions");
    json_array_foreach(versions, i, v)
    {
        if (!json_is_string(v))
            continue;
        proj.versions = xrealloc(proj.versions, (proj.nversions + 1) * sizeof(*proj.versions));
        proj.versions[proj.nversions++] = xstrdup(json_string_value(v));
    }
    json_array_foreach(files, i, v)
    {
        rc = take_file(v, max_files, &proj);
        if (rc != 0)
            goto out;
    }
    simple__project_move(out, &proj);
out:
    json_decref(root);
    simple_project_release(&proj);
    return rc;
}

static json_t *client_file(const struct simple_file *f)
{
    json_t *o = json_object();

    set_str(o, "filename", f->filename ? f->filename : "");
    set_str(o, "url", f->url ? f->url : "");
    set_new(o, "hashes", hashes_obj(&f->hashes));
    set_str(o, "requires-python", f->requires_python);
    if (f->yanked != SIMPLE_YANKED)
        set_new(o, "yanked", json_false());
    else if (f->yanked_reason != NULL && f->yanked_reason[0] != '\0')
        set_str(o, "yanked", f->yanked_reason);
    else
        set_new(o, "yanked", json_true());
    /* PEP 714: core-metadata only; dist-info-metadata crashes pip 22.3-23.1 */
    if (f->core_metadata) {
        if (f->core_metadata_hashes.n > 0)
            set_new(o, "core-metadata", hashes_obj(&f->core_metadata_hashes));
        else
            set_new(o, "core-metadata", json_true());
    }
    if (f->size >= 0)
        set_new(o, "size", json_integer((json_int_t)f->size));
    set_str(o, "upload-time", f->upload_time);
    set_str(o, "provenance", f->provenance);
    return o;
}

int simple__render_json_tree(const struct simple_project *p, const char *name, struct buf *out)
{
    const char *api = simple__api_version(p);
    json_t *root = json_object();
    json_t *meta = json_object();
    json_t *files = json_array();
    int rc;

    set_str(meta, "api-version", api);
    set_new(root, "meta", meta);
    set_str(root, "name", name ? name : (p->name ? p->name : ""));
    for (size_t i = 0; i < p->nfiles; i++)
        json_array_append_new(files, client_file(&p->files[i]));
    set_new(root, "files", files);
    if (strcmp(api, "1.0") != 0) {
        json_t *versions = json_array();
        for (size_t i = 0; i < p->nversions; i++)
            json_array_append_new(versions, jstr(p->versions[i]));
        set_new(root, "versions", versions);
    }
    if (p->status != NULL) {
        json_t *st = json_object();
        set_str(st, "status", p->status);
        set_str(st, "reason", p->status_reason);
        set_new(root, "project-status", st);
    }
    rc = dump(root, out);
    json_decref(root);
    return rc;
}

/*
 * The client renderer writes JSON directly into the buffer: rendering a big
 * page (numpy: 3,464 files) through a jansson tree cost ten times more. Its
 * output is byte-identical to simple__render_json_tree (compact, keys in the
 * same order, jansson's escapes), which tests/unit/resolver/pep/ checks on
 * every fixture.
 */
/* Bytes put_jstr must look at: 1 = escape, 2 = non-ASCII (UTF-8 check). */
static const unsigned char jclass[256] = {
    [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1,
    [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1,
    [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1,
    [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
    [0x80 ... 0xff] = 2,
};

static void put_jstr(struct buf *b, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    char *fixed = NULL;
    const char *run;
    const unsigned char *u = (const unsigned char *)s;
    unsigned seen = 0;

    /* One table-driven pass: plain ASCII, the common case, is appended whole. */
    while (*u)
        seen |= jclass[*u++];
    if (seen == 0) {
        buf_putc(b, '"');
        buf_append(b, s, (size_t)((const char *)u - s));
        buf_putc(b, '"');
        return;
    }
    if (seen & 2) {
        /* Non-ASCII: repair invalid UTF-8 the way jstr() does. */
        fixed = simple__utf8_dup(s, strlen(s));
        s = fixed;
    }
    buf_putc(b, '"');
    run = s;
    for (const char *q = s;; q++) {
        unsigned char c;
        while (jclass[(unsigned char)*q] != 1 && *q != '\0')
            q++;
        c = (unsigned char)*q;
        buf_append(b, run, (size_t)(q - run));
        if (c == '\0')
            break;
        run = q + 1;
        switch (c) {
        case '"':
            buf_append(b, "\\\"", 2);
            break;
        case '\\':
            buf_append(b, "\\\\", 2);
            break;
        case '\b':
            buf_append(b, "\\b", 2);
            break;
        case '\f':
            buf_append(b, "\\f", 2);
            break;
        case '\n':
            buf_append(b, "\\n", 2);
            break;
        case '\r':
            buf_append(b, "\\r", 2);
            break;
        case '\t':
            buf_append(b, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
            buf_append(b, esc, sizeof(esc));
        }
        }
    }
    buf_putc(b, '"');
    free(fixed);
}

static void put_key(struct buf *b, const char *key)
{
    put_jstr(b, key);
    buf_putc(b, ':');
}

static void put_hashes(struct buf *b, const struct simple_hashes *h)
{
    buf_putc(b, '{');
    for (size_t i = 0; i < h->n; i++) {
        if (i)
            buf_putc(b, ',');
        put_key(b, h->v[i].name);
        put_jstr(b, h->v[i].value);
    }
    buf_putc(b, '}');
}

static void put_opt(struct buf *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    buf_putc(b, ',');
    put_key(b, key);
    put_jstr(b, value);
}

static void put_file(struct buf *b, const struct simple_file *f)
{
    buf_appends(b, "{\"filename\":");
    put_jstr(b, f->filename ? f->filename : "");
    buf_appends(b, ",\"url\":");
    put_jstr(b, f->url ? f->url : "");
    buf_appends(b, ",\"hashes\":");
    put_hashes(b, &f->hashes);
    put_opt(b, "requires-python", f->requires_python);
    if (f->yanked != SIMPLE_YANKED) {
        buf_appends(b, ",\"yanked\":false");
    } else if (f->yanked_reason != NULL && f->yanked_reason[0] != '\0') {
        put_opt(b, "yanked", f->yanked_reason);
    } else {
        buf_appends(b, ",\"yanked\":true");
    }
    /* PEP 714: core-metadata only; dist-info-metadata crashes pip 22.3-23.1 */
    if (f->core_metadata) {
        buf_appends(b, ",\"core-metadata\":");
        if (f->core_metadata_hashes.n > 0)
            put_hashes(b, &f->core_metadata_hashes);
        else
            buf_appends(b, "true");
    }
    if (f->size >= 0) {
        char num[24];
        size_t k = sizeof(num);
        uint64_t v = (uint64_t)f->size;
        do {
            num[--k] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        buf_append(b, ",\"size\":", 8);
        buf_append(b, num + k, sizeof(num) - k);
    }
    put_opt(b, "upload-time", f->upload_time);
    put_opt(b, "provenance", f->provenance);
    buf_putc(b, '}');
}

int simple_render_json(const struct simple_project *p, const char *name, struct buf *out)
{
    const char *api = simple__api_version(p);
    struct buf b;
    int rc;

    /* Render into a scratch buffer, then append: out changes all or nothing. */
    buf_init(&b, BUF_NOMAX);
    buf_appends(&b, "{\"meta\":{\"api-version\":");
    put_jstr(&b, api);
    buf_appends(&b, "},\"name\":");
    put_jstr(&b, name ? name : (p->name ? p->name : ""));
    buf_appends(&b, ",\"files\":[");
    for (size_t i = 0; i < p->nfiles; i++) {
        if (i)
            buf_putc(&b, ',');
        put_file(&b, &p->files[i]);
    }
    buf_putc(&b, ']');
    if (strcmp(api, "1.0") != 0) {
        buf_appends(&b, ",\"versions\":[");
        for (size_t i = 0; i < p->nversions; i++) {
            if (i)
                buf_putc(&b, ',');
            put_jstr(&b, p->versions[i]);
        }
        buf_putc(&b, ']');
    }
    if (p->status != NULL) {
        buf_appends(&b, ",\"project-status\":{\"status\":");
        put_jstr(&b, p->status);
        put_opt(&b, "reason", p->status_reason);
        buf_putc(&b, '}');
    }
    buf_putc(&b, '}');
    rc = buf_append(out, b.p, b.len);
    buf_release(&b);
    return rc;
}

/* ---- the store format ---- */

static json_t *store_file(const struct simple_file *f)
{
    json_t *o = json_object();

    set_str(o, "filename", f->filename);
    set_str(o, "url", f->url);
    set_new(o, "hashes", hashes_obj(&f->hashes));
    set_str(o, "requires_python", f->requires_python);
    set_new(o, "yanked", json_boolean(f->yanked == SIMPLE_YANKED));
    set_str(o, "yanked_reason", f->yanked_reason);
    set_new(o, "core_metadata", json_boolean(f->core_metadata));
    set_new(o, "core_metadata_hashes", hashes_obj(&f->core_metadata_hashes));
    if (f->size >= 0)
        set_new(o, "size", json_integer((json_int_t)f->size));
    set_str(o, "upload_time", f->upload_time);
    set_str(o, "provenance", f->provenance);
    return o;
}

int simple_store_render(const struct simple_project *p, struct buf *out)
{
    json_t *root = json_object();
    json_t *files = json_array();
    json_t *versions = json_array();
    int rc;

    set_new(root, "v", json_integer(SIMPLE_STORE_VERSION));
    set_str(root, "name", p->name);
    set_str(root, "api_version", p->api_version);
    set_str(root, "status", p->status);
    set_str(root, "status_reason", p->status_reason);
    set_str(root, "base_url", p->base_url);
    for (size_t i = 0; i < p->nversions; i++)
        json_array_append_new(versions, jstr(p->versions[i]));
    set_new(root, "versions", versions);
    for (size_t i = 0; i < p->nfiles; i++)
        json_array_append_new(files, store_file(&p->files[i]));
    set_new(root, "files", files);
    rc = dump(root, out);
    json_decref(root);
    return rc;
}

/*
 * An optional string member into *dst: absent or null leaves NULL; any other
 * non-string is corruption.
 */
static int store_str(const json_t *obj, const char *key, char **dst)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return IMX_ECORRUPT;
    *dst = xstrdup(json_string_value(v));
    return 0;
}

static int store_hashes(const json_t *obj, const char *key, struct simple_hashes *h)
{
    const json_t *o = json_object_get(obj, key);
    const char *k;
    json_t *v;

    if (o == NULL)
        return 0;
    if (!json_is_object(o))
        return IMX_ECORRUPT;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!json_is_string(v))
            return IMX_ECORRUPT;
        simple_hashes_set(h, k, json_string_value(v));
    }
    return 0;
}

static int store_file_parse(const json_t *o, struct simple_file *f)
{
    const json_t *size = json_object_get(o, "size");
    int rc;

    if (!json_is_object(o))
        return IMX_ECORRUPT;
    rc = store_str(o, "filename", &f->filename);
    if (rc == 0)
        rc = store_str(o, "url", &f->url);
    if (rc == 0)
        rc = store_hashes(o, "hashes", &f->hashes);
    if (rc == 0)
        rc = store_str(o, "requires_python", &f->requires_python);
    if (rc == 0)
        rc = store_str(o, "yanked_reason", &f->yanked_reason);
    if (rc == 0)
        rc = store_hashes(o, "core_metadata_hashes", &f->core_metadata_hashes);
    if (rc == 0)
        rc = store_str(o, "upload_time", &f->upload_time);
    if (rc == 0)
        rc = store_str(o, "provenance", &f->provenance);
    if (rc != 0)
        return rc;
    f->yanked = json_is_true(json_object_get(o, "yanked")) ? SIMPLE_YANKED : SIMPLE_NOT_YANKED;
    f->core_metadata = json_is_true(json_object_get(o, "core_metadata"));
    if (size != NULL) {
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return IMX_ECORRUPT;
        f->size = (int64_t)json_integer_value(size);
    }
    return 0;
}

int simple_store_parse(const char *p, size_t len, struct simple_project *out)
{
    struct simple_project proj;
    json_error_t jerr;
    json_t *root;
    const json_t *files, *versions, *v;
    size_t i;
    int rc = 0;

    simple_project_init(&proj);
    root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
    files = json_object_get(root, "files");
    versions = json_object_get(root, "versions");
    if (!json_is_object(root) ||
        json_integer_value(json_object_get(root, "v")) != SIMPLE_STORE_VERSION ||
        !json_is_array(files) || (versions != NULL && !json_is_array(versions))) {
        rc = IMX_ECORRUPT;
        goto out;
    }
    rc = store_str(root, "name", &proj.name);
    if (rc == 0)
        rc = store_str(root, "api_version", &proj.api_version);
    if (rc == 0)
        rc = store_str(root, "status", &proj.status);
    if (rc == 0)
        rc = store_str(root, "status_reason", &proj.status_reason);
    if (rc == 0)
        rc = store_str(root, "base_url", &proj.base_url);
    if (rc != 0)
        goto out;
    json_array_foreach(versions, i, v)
    {
        if (!json_is_string(v)) {
            rc = IMX_ECORRUPT;
            goto out;
        }
        proj.versions = xrealloc(proj.versions, (proj.nversions + 1) * sizeof(*proj.versions));
        proj.versions[proj.nversions++] = xstrdup(json_string_value(v));
    }
    json_array_foreach(files, i, v)
    {
        rc = store_file_parse(v, simple_project_add_file(&proj));
        if (rc != 0)
            goto out;
    }
    simple__project_move(out, &proj);
out:
    json_decref(root);
    simple_project_release(&proj);
    return rc;
}

/* ---- project lists ---- */

int simple_index_parse_json(const char *p, size_t len, size_t max_names, struct simple_index *out)
{
    struct simple_index ix;
    json_error_t jerr;
    json_t *root;
    const json_t *projects, *v;
    size_t i;
    int rc = 0;

    simple_index_init(&ix);
    root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
    projects = json_object_get(root, "projects");
    if (!json_is_object(root) || !json_is_array(projects)) {
        rc = IMX_ESYNTAX;
        goto out;
    }
    json_array_foreach(projects, i, v)
    {
        const json_t *name = json_object_get(v, "name");
        if (!json_is_string(name) || json_string_length(name) == 0)
            continue;
        if (ix.n >= max_names) {
            rc = IMX_ETOOLARGE;
            goto out;
        }
        simple_index_add(&ix, json_string_value(name), json_string_length(name));
    }
    simple_index_release(out);
    *out = ix;
    simple_index_init(&ix);
out:
    json_decref(root);
    simple_index_release(&ix);
    return rc;
}

int simple_index_render_json(const struct simple_index *ix, struct buf *out)
{
    json_t *root = json_object();
    json_t *meta = json_object();
    json_t *projects = json_array();
    int rc;

    set_str(meta, "api-version", "1.0");
    set_new(root, "meta", meta);
    for (size_t i = 0; i < ix->n; i++) {
        json_t *o = json_object();
        set_str(o, "name", ix->names[i]);
        json_array_append_new(projects, o);
    }
    set_new(root, "projects", projects);
    rc = dump(root, out);
    json_decref(root);
    return rc;
}
