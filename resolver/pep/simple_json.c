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
#include "str.h"
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
 *
 * Each file is written into room reserved for its worst case (every byte
 * escaped as "\u00XX", 6 bytes; a byte of invalid UTF-8 becomes 3 bytes of
 * U+FFFD, which need no escape) with a cursor, so the 3,464 files of numpy
 * cost no per-piece capacity checks; near the output cap, where the worst
 * case does not fit, a file is written aside and appended checked.
 */
#define JSON_ESC_MAX 6
/* The literal text of a file object with every key, and a 20-digit size. */
#define JSON_FILE_FIXED 160
/* Per hash: two pairs of quotes, a colon, a comma. */
#define JSON_HASH_FIXED 6

/* Bytes jstr_to must look at: 1 = escape, 2 = non-ASCII (UTF-8 check). */
static const unsigned char jclass[256] = {
    [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1,
    [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1,
    [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1,
    [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
    [0x80 ... 0xff] = 2,
};

/*
 * True when none of the n bytes at s needs a look (jclass 0): eight bytes
 * at a time, testing for a byte below 0x20, a '"', a '\\' or a high bit.
 */
static bool json_plain(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull;
    const uint64_t highs = 0x8080808080808080ull;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t x, q, bs;
        memcpy(&x, s + i, 8);
        q = x ^ (ones * '"');
        bs = x ^ (ones * '\\');
        /* (v - ones) & ~v & highs: some byte of v is 0; with 0x20: some byte < 0x20. */
        if ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | x) & highs)
            return false;
    }
    for (; i < n; i++) {
        if (jclass[(unsigned char)s[i]])
            return false;
    }
    return true;
}

/* Write s (n bytes, NUL at s[n]) as a JSON string; returns the cursor after it. */
static char *jstr_to(char *w, const char *s, size_t n)
{
    static const char hexd[] = "0123456789ABCDEF";
    char *fixed = NULL;
    const char *end;
    unsigned seen = 0;

    *w++ = '"';
    if (json_plain(s, n)) {
        memcpy(w, s, n);
        w += n;
        *w++ = '"';
        return w;
    }
    for (size_t i = 0; i < n; i++)
        seen |= jclass[(unsigned char)s[i]];
    if (seen & 2) {
        /* Non-ASCII: repair invalid UTF-8 the way jstr() does. */
        fixed = simple__utf8_dup(s, n);
        s = fixed;
        n = strlen(fixed);
    }
    end = s + n;
    for (;;) {
        const char *q = s;
        unsigned char c;
        while (q < end && jclass[(unsigned char)*q] != 1)
            q++;
        memcpy(w, s, (size_t)(q - s));
        w += q - s;
        if (q == end)
            break;
        c = (unsigned char)*q;
        s = q + 1;
        *w++ = '\\';
        switch (c) {
        case '"':
            *w++ = '"';
            break;
        case '\\':
            *w++ = '\\';
            break;
        case '\b':
            *w++ = 'b';
            break;
        case '\f':
            *w++ = 'f';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        default:
            *w++ = 'u';
            *w++ = '0';
            *w++ = '0';
            *w++ = hexd[c >> 4];
            *w++ = hexd[c & 15];
        }
    }
    *w++ = '"';
    free(fixed);
    return w;
}


/*
 * Write what `write` makes of ctx, at most `most` bytes, into b: in place
 * when that much room fits under b's cap, else aside and appended checked
 * (the real bytes may fit where the worst case does not).
 * Returns 0 or IMX_ETOOLARGE (b unchanged).
 */
static int put_bounded(struct buf *b, size_t most, char *(*write)(char *w, const void *ctx),
                       const void *ctx)
{
    struct buf aside;
    char *w;
    int rc;

    if (buf_reserve(b, most) == 0) {
        w = write(b->p + b->len, ctx);
        buf_commit(b, (size_t)(w - (b->p + b->len)));
        return 0;
    }
    buf_init(&aside, BUF_NOMAX);
    if (buf_reserve(&aside, most) != 0)
        return IMX_ETOOLARGE;
    w = write(aside.p, ctx);
    buf_commit(&aside, (size_t)(w - aside.p));
    rc = buf_append(b, aside.p, aside.len);
    buf_release(&aside);
    return rc;
}

static char *write_jstr(char *w, const void *ctx)
{
    const char *s = ctx;
    return jstr_to(w, s, strlen(s));
}

/* Append s as a JSON string. 0 or IMX_ETOOLARGE (b unchanged). */
static int put_jstr(struct buf *b, const char *s)
{
    return put_bounded(b, 2 + JSON_ESC_MAX * strlen(s), write_jstr, s);
}

/* ,"key":"value" when value is set. */
static int put_opt(struct buf *b, const char *key, const char *value)
{
    int rc;

    if (value == NULL)
        return 0;
    rc = buf_putc(b, ',');
    if (rc == 0)
        rc = put_jstr(b, key);
    if (rc == 0)
        rc = buf_putc(b, ':');
    if (rc == 0)
        rc = put_jstr(b, value);
    return rc;
}

/* A file's strings and their lengths, measured once (put_file). */
struct jfile {
    const struct simple_file *f;
    const char *fn, *url, *yanked;
    size_t fn_n, url_n, rp_n, yanked_n, upload_n, prov_n;
};

static size_t opt_len(const char *s)
{
    return s ? strlen(s) : 0;
}

static size_t hashes_len(const struct simple_hashes *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += JSON_HASH_FIXED + JSON_ESC_MAX * (strlen(h->v[i].name) + strlen(h->v[i].value));
    return n;
}

static char *hashes_to(char *w, const struct simple_hashes *h)
{
    *w++ = '{';
    for (size_t i = 0; i < h->n; i++) {
        if (i)
            *w++ = ',';
        w = jstr_to(w, h->v[i].name, strlen(h->v[i].name));
        *w++ = ':';
        w = jstr_to(w, h->v[i].value, strlen(h->v[i].value));
    }
    *w++ = '}';
    return w;
}

static char *write_file(char *w, const void *ctx)
{
    const struct jfile *t = ctx;
    const struct simple_file *f = t->f;

    SIMPLE__PUT_LIT(w, "{\"filename\":");
    w = jstr_to(w, t->fn, t->fn_n);
    SIMPLE__PUT_LIT(w, ",\"url\":");
    w = jstr_to(w, t->url, t->url_n);
    SIMPLE__PUT_LIT(w, ",\"hashes\":");
    w = hashes_to(w, &f->hashes);
    if (f->requires_python) {
        SIMPLE__PUT_LIT(w, ",\"requires-python\":");
        w = jstr_to(w, f->requires_python, t->rp_n);
    }
    if (f->yanked != SIMPLE_YANKED) {
        SIMPLE__PUT_LIT(w, ",\"yanked\":false");
    } else if (t->yanked) {
        SIMPLE__PUT_LIT(w, ",\"yanked\":");
        w = jstr_to(w, t->yanked, t->yanked_n);
    } else {
        SIMPLE__PUT_LIT(w, ",\"yanked\":true");
    }
    /* PEP 714: core-metadata only; dist-info-metadata crashes pip 22.3-23.1 */
    if (f->core_metadata) {
        SIMPLE__PUT_LIT(w, ",\"core-metadata\":");
        if (f->core_metadata_hashes.n > 0)
            w = hashes_to(w, &f->core_metadata_hashes);
        else
            SIMPLE__PUT_LIT(w, "true");
    }
    if (f->size >= 0) {
        SIMPLE__PUT_LIT(w, ",\"size\":");
        w = str_put_u64(w, (uint64_t)f->size);
    }
    if (f->upload_time) {
        SIMPLE__PUT_LIT(w, ",\"upload-time\":");
        w = jstr_to(w, f->upload_time, t->upload_n);
    }
    if (f->provenance) {
        SIMPLE__PUT_LIT(w, ",\"provenance\":");
        w = jstr_to(w, f->provenance, t->prov_n);
    }
    *w++ = '}';
    return w;
}

static int put_file(struct buf *b, const struct simple_file *f)
{
    struct jfile t;
    size_t most;

    t.f = f;
    t.fn = f->filename ? f->filename : "";
    t.fn_n = strlen(t.fn);
    t.url = f->url ? f->url : "";
    t.url_n = strlen(t.url);
    t.rp_n = opt_len(f->requires_python);
    t.yanked = f->yanked == SIMPLE_YANKED && f->yanked_reason != NULL && f->yanked_reason[0]
                   ? f->yanked_reason
                   : NULL;
    t.yanked_n = opt_len(t.yanked);
    t.upload_n = opt_len(f->upload_time);
    t.prov_n = opt_len(f->provenance);
    /* Strings live in memory, so their sum is far from overflowing this. */
    most = JSON_FILE_FIXED + hashes_len(&f->hashes) +
           (f->core_metadata ? hashes_len(&f->core_metadata_hashes) : 0) +
           JSON_ESC_MAX * (t.fn_n + t.url_n + t.rp_n + t.yanked_n + t.upload_n + t.prov_n);
    return put_bounded(b, most, write_file, &t);
}

int simple_render_json(const struct simple_project *p, const char *name, struct buf *out)
{
    const char *api = simple__api_version(p);
    size_t start = out->len;
    int rc;

    /* Straight into out; on any failure it is cut back: all or nothing. */
    rc = buf_appends(out, "{\"meta\":{\"api-version\":");
    if (rc == 0)
        rc = put_jstr(out, api);
    if (rc == 0)
        rc = buf_appends(out, "},\"name\":");
    if (rc == 0)
        rc = put_jstr(out, name ? name : (p->name ? p->name : ""));
    if (rc == 0)
        rc = buf_appends(out, ",\"files\":[");
    for (size_t i = 0; i < p->nfiles && rc == 0; i++) {
        if (i)
            rc = buf_putc(out, ',');
        if (rc == 0)
            rc = put_file(out, &p->files[i]);
    }
    if (rc == 0)
        rc = buf_putc(out, ']');
    if (rc == 0 && strcmp(api, "1.0") != 0) {
        rc = buf_appends(out, ",\"versions\":[");
        for (size_t i = 0; i < p->nversions && rc == 0; i++) {
            if (i)
                rc = buf_putc(out, ',');
            if (rc == 0)
                rc = put_jstr(out, p->versions[i]);
        }
        if (rc == 0)
            rc = buf_putc(out, ']');
    }
    if (rc == 0 && p->status != NULL) {
        rc = buf_appends(out, ",\"project-status\":{\"status\":");
        if (rc == 0)
            rc = put_jstr(out, p->status);
        if (rc == 0)
            rc = put_opt(out, "reason", p->status_reason);
        if (rc == 0)
            rc = buf_putc(out, '}');
    }
    if (rc == 0)
        rc = buf_putc(out, '}');
    if (rc != 0) {
        out->len = start;
        if (out->p != NULL)
            out->p[out->len] = '\0';
    }
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
