/*
 * simple.c - the simple-repository page model (simple.h): lifecycle, file and
 * hash helpers, and the small string helpers both parsers share
 * (simple_int.h). The parsers and renderers live in simple_html.c (libxml2)
 * and simple_json.c (jansson); this file uses neither library.
 */
#include "compat.h"

#include "simple.h"
#include "str.h"
#include "simple_int.h"
#include "xalloc.h"

void simple_project_init(struct simple_project *p)
{
    memset(p, 0, sizeof(*p));
}

void simple__hashes_release(struct simple_hashes *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

void simple__file_release(struct simple_file *f)
{
    if (!f)
        return;
    free(f->filename);
    free(f->url);
    simple__hashes_release(&f->hashes);
    free(f->requires_python);
    free(f->yanked_reason);
    simple__hashes_release(&f->core_metadata_hashes);
    free(f->upload_time);
    free(f->provenance);
    memset(f, 0, sizeof(*f));
    f->size = -1;
}

void simple_project_release(struct simple_project *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->api_version);
    free(p->status);
    free(p->status_reason);
    free(p->base_url);
    for (size_t i = 0; i < p->nfiles; i++)
        simple__file_release(&p->files[i]);
    free(p->files);
    for (size_t i = 0; i < p->nversions; i++)
        free(p->versions[i]);
    free(p->versions);
    simple_project_init(p);
}

void simple__project_move(struct simple_project *dst, struct simple_project *src)
{
    simple_project_release(dst);
    *dst = *src;
    simple_project_init(src);
}

struct simple_file *simple_project_add_file(struct simple_project *p)
{
    struct simple_file *f;

    p->files = xgrow(p->files, &p->capfiles, p->nfiles + 1, sizeof(*p->files));
    f = &p->files[p->nfiles++];
    memset(f, 0, sizeof(*f));
    f->size = -1;
    return f;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void simple__hashes_copy(struct simple_hashes *dst, const struct simple_hashes *src)
{
    if (dst->n == 0 && src->n > 0) {
        /* The common case (a fresh file): src is already normalized, copy as is. */
        dst->v = xcalloc(src->n, sizeof(*dst->v));
        for (size_t i = 0; i < src->n; i++) {
            dst->v[i].name = xstrdup(src->v[i].name);
            dst->v[i].value = xstrdup(src->v[i].value);
        }
        dst->n = src->n;
        return;
    }
    for (size_t i = 0; i < src->n; i++)
        simple_hashes_set(dst, src->v[i].name, src->v[i].value);
}

struct simple_file *simple_project_copy_file(struct simple_project *dst, const struct simple_file *f)
{
    struct simple_file *n = simple_project_add_file(dst);

    n->filename = dup_or_null(f->filename);
    n->url = dup_or_null(f->url);
    simple__hashes_copy(&n->hashes, &f->hashes);
    n->requires_python = dup_or_null(f->requires_python);
    n->yanked = f->yanked;
    n->yanked_reason = dup_or_null(f->yanked_reason);
    n->core_metadata = f->core_metadata;
    simple__hashes_copy(&n->core_metadata_hashes, &f->core_metadata_hashes);
    n->size = f->size;
    n->upload_time = dup_or_null(f->upload_time);
    n->provenance = dup_or_null(f->provenance);
    return n;
}

const char *simple_hashes_get(const struct simple_hashes *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    }
    return NULL;
}

static char *lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *c = d; *c; c++) {
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    }
    return d;
}

void simple_hashes_set(struct simple_hashes *h, const char *name, const char *value)
{
    char *lname = lower_dup(name);
    size_t i;

    for (i = 0; i < h->n; i++) {
        if (strcmp(h->v[i].name, lname) == 0)
            break;
    }
    if (i < h->n) {
        free(lname);
        free(h->v[i].value);
        h->v[i].value = lower_dup(value);
        return;
    }
    /* n is the capacity too: hash lists are tiny, grow one at a time. */
    h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
    h->v[h->n].name = lname;
    h->v[h->n].value = lower_dup(value);
    h->n++;
}

bool simple__hash_name_ok(const char *p, size_t len)
{
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool simple__hex_ok(const char *p, size_t len)
{
    if (len == 0 || len > 256)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (hexval(p[i]) < 0)
            return false;
    }
    return true;
}

const struct simple_hash *simple__preferred_hash(const struct simple_hashes *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->v[i].name, "sha256") == 0)
            return &h->v[i];
    }
    return h->n > 0 ? &h->v[0] : NULL;
}

static bool utf8_valid(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = str_utf8_seq((const unsigned char *)p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

char *simple__utf8_dup(const char *p, size_t len)
{
    char *d;
    size_t i = 0, o = 0;

    if (utf8_valid(p, len))
        return xstrndup(p, len);
    /* worst case: every byte becomes the 3-byte U+FFFD */
    if (len > (SIZE_MAX - 1) / 3)
        abort();
    d = xmalloc(len * 3 + 1);
    while (i < len) {
        size_t n = str_utf8_seq((const unsigned char *)p + i, len - i);
        if (n == 0) {
            memcpy(d + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(d + o, p + i, n);
        o += n;
        i += n;
    }
    d[o] = '\0';
    return d;
}

char *simple__filename_from_url(const char *url)
{
    size_t end = strcspn(url, "?#");
    size_t start = end;
    char *d;
    size_t o = 0;
    bool ok = true;

    while (start > 0 && url[start - 1] != '/')
        start--;
    if (start == end)
        return NULL;
    d = xmalloc(end - start + 1);
    for (size_t i = start; i < end; i++) {
        if (url[i] == '%' && i + 2 < end && hexval(url[i + 1]) >= 0 &&
            hexval(url[i + 2]) >= 0) {
            char c = (char)(hexval(url[i + 1]) * 16 + hexval(url[i + 2]));
            if (c == '\0' || c == '/')
                ok = false;
            d[o++] = c;
            i += 2;
        } else {
            d[o++] = url[i];
        }
    }
    d[o] = '\0';
    if (!ok || !utf8_valid(d, o)) {
        free(d);
        return xstrndup(url + start, end - start);
    }
    return d;
}

const char *simple__api_version(const struct simple_project *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        if (p->files[i].size < 0)
            return "1.0";
    }
    if (p->nfiles > 0 && p->nversions == 0)
        return "1.0";
    return "1.1";
}

/* ---- project lists ---- */

void simple_index_init(struct simple_index *ix)
{
    memset(ix, 0, sizeof(*ix));
}

void simple_index_release(struct simple_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n; i++)
        free(ix->names[i]);
    free(ix->names);
    simple_index_init(ix);
}

void simple_index_add(struct simple_index *ix, const char *name, size_t len)
{
    ix->names = xgrow(ix->names, &ix->cap, ix->n + 1, sizeof(*ix->names));
    ix->names[ix->n++] = xstrndup(name, len);
}

void simple_file_release(struct simple_file *f)
{
    simple__file_release(f);
}
