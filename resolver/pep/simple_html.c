/*
 * simple_html.c - PEP 503 HTML: project pages parsed with libxml2's HTML
 * parser into struct simple_project, rendered back for clients, and the
 * project list (index root) parsed as a stream with libxml2's push parser.
 *
 * Why a real HTML parser: attributes come in any order and quoting, values
 * carry entities (`&gt;=3.8`), pages carry comments and, on PyTorch,
 * Cloudflare-injected <script> blocks whose text looks like anchors. The
 * parser gives us elements; we walk them without recursion and never look
 * inside <script>, <style> or <template>.
 *
 * Every string taken from libxml2 is copied through simple__utf8_dup, so the
 * model only ever holds valid UTF-8 (simple_json.c relies on that).
 * libxml2 is used only through per-call parser contexts: no global state is
 * changed (no xmlCleanupParser, no generic error handlers).
 */
#include "compat.h"

#include <limits.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "buf.h"
#include "err.h"
#include "simple.h"
#include "simple_int.h"
#include "str.h"
#include "xalloc.h"

#define SIMPLE_HTML_OPTS                                                                         \
    (HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER |       \
     HTML_PARSE_COMPACT)

/* Longest anchor text kept as a project name in a project list. */
#define SIMPLE_NAME_MAX 1024

/* ---- helpers ---- */

static bool name_is(const xmlChar *name, const char *want)
{
    return name != NULL && xmlStrcasecmp(name, BAD_CAST want) == 0;
}

static bool skipped_element(const xmlChar *name)
{
    return name_is(name, "script") || name_is(name, "style") || name_is(name, "template");
}

/*
 * The value of attribute `name` of element `n`, entities decoded: a fresh
 * string, "" for a bare attribute (`<a data-yanked>`), NULL when absent.
 */
static char *attr_dup(xmlNode *n, const char *name)
{
    for (xmlAttr *a = n->properties; a != NULL; a = a->next) {
        xmlChar *v;
        char *r;

        if (!name_is(a->name, name))
            continue;
        v = xmlNodeListGetString(n->doc, a->children, 1);
        if (v == NULL)
            return xstrdup("");
        r = simple__utf8_dup((const char *)v, strlen((const char *)v));
        xmlFree(v);
        return r;
    }
    return NULL;
}

static struct str trim_cstr(const char *s)
{
    return str_trim(str_from(s));
}

/* Anchor text, whitespace-trimmed; NULL when empty. */
static char *text_dup(xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    struct str t;
    char *r = NULL;

    if (v == NULL)
        return NULL;
    t = trim_cstr((const char *)v);
    if (t.len > 0)
        r = simple__utf8_dup(t.p, t.len);
    xmlFree(v);
    return r;
}

static bool known_hash_name(struct str name)
{
    static const char *const names[] = {"md5",      "sha1",     "sha224",   "sha256",
                                        "sha384",   "sha512",   "sha3_224", "sha3_256",
                                        "sha3_384", "sha3_512", "blake2b",  "blake2s"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (str_eq_nocase(name, str_from(names[i])))
            return true;
    }
    return false;
}

/*
 * "name=hex" into h when it is a hash we recognise; returns whether it was.
 * `any_name`: accept any well-formed name (data-core-metadata) rather than
 * only hashlib's (URL fragments, where `egg=` and friends also live).
 */
static bool take_hash(struct str pair, bool any_name, struct simple_hashes *h)
{
    ptrdiff_t eq = str_index(pair, '=');
    struct str name, value;
    char *n, *v;

    if (eq <= 0)
        return false;
    name = str_sub(pair, 0, (size_t)eq);
    value = str_sub(pair, (size_t)eq + 1, pair.len);
    if (!simple__hash_name_ok(name.p, name.len) || !simple__hex_ok(value.p, value.len))
        return false;
    if (!any_name && !known_hash_name(name))
        return false;
    n = str_dup(name);
    v = str_dup(value);
    simple_hashes_set(h, n, v);
    free(n);
    free(v);
    return true;
}

/* A URL fragment: `sha256=...`, possibly several pairs joined with '&'. */
static void take_fragment(const char *frag, struct simple_hashes *h)
{
    struct str_cursor c = str_cursor(str_from(frag));

    while (!str_cur_eof(&c)) {
        struct str pair = str_cur_until(&c, '&');
        take_hash(pair, false, h);
        str_cur_lit(&c, "&");
    }
}

/* data-core-metadata: "true", "<hash>=<hex>"; "false" and anything else: not advertised. */
static void take_core_metadata(struct simple_file *f, const char *value)
{
    struct str v = trim_cstr(value);

    if (str_eq_nocase(v, STR_LIT("true"))) {
        f->core_metadata = true;
        return;
    }
    if (take_hash(v, true, &f->core_metadata_hashes))
        f->core_metadata = true;
}

static void take_size(struct simple_file *f, const char *value)
{
    uint64_t n;

    if (str_to_u64(trim_cstr(value), INT64_MAX, &n) == 0)
        f->size = (int64_t)n;
}

/*
 * One <a>: appended to p when it has a usable href. Returns 0 or
 * IMX_ETOOLARGE (max_files reached).
 */
static int take_anchor(xmlNode *n, size_t max_files, struct simple_project *p)
{
    char *href = attr_dup(n, "href");
    char *frag = NULL;
    char *filename = NULL;
    char *v;
    struct simple_file *f;
    int rc = 0;

    if (href == NULL)
        goto out;
    frag = strchr(href, '#');
    if (frag != NULL)
        *frag++ = '\0';
    if (href[0] == '\0')
        goto out;
    filename = simple__filename_from_url(href);
    if (filename == NULL)
        filename = text_dup(n);
    if (filename == NULL)
        goto out;
    if (p->nfiles >= max_files) {
        rc = IMX_ETOOLARGE;
        goto out;
    }
    f = simple_project_add_file(p);
    f->filename = filename;
    filename = NULL;
    /* the fragment lives inside href's allocation: read it before handing href over */
    if (frag != NULL)
        take_fragment(frag, &f->hashes);
    f->url = xstrdup(href);
    f->requires_python = attr_dup(n, "data-requires-python");
    v = attr_dup(n, "data-yanked");
    if (v != NULL) {
        f->yanked = SIMPLE_YANKED;
        if (v[0] != '\0')
            f->yanked_reason = v;
        else
            free(v);
    }
    /* PEP 714: data-core-metadata wins; data-dist-info-metadata is the fallback */
    v = attr_dup(n, "data-core-metadata");
    if (v == NULL)
        v = attr_dup(n, "data-dist-info-metadata");
    if (v != NULL) {
        take_core_metadata(f, v);
        free(v);
    }
    f->upload_time = attr_dup(n, "data-upload-time");
    v = attr_dup(n, "data-size");
    if (v != NULL) {
        take_size(f, v);
        free(v);
    }
    f->provenance = attr_dup(n, "data-provenance");
out:
    free(href);
    free(filename);
    return rc;
}

static void take_meta(xmlNode *n, struct simple_project *p)
{
    char *name = attr_dup(n, "name");
    char **slot = NULL;

    if (name == NULL)
        return;
    if (strcasecmp(name, "pypi:repository-version") == 0)
        slot = &p->api_version;
    else if (strcasecmp(name, "pypi:project-status") == 0)
        slot = &p->status;
    else if (strcasecmp(name, "pypi:project-status-reason") == 0)
        slot = &p->status_reason;
    if (slot != NULL && *slot == NULL)
        *slot = attr_dup(n, "content");
    free(name);
}

/* Walk the tree in document order without recursion. */
static int walk(xmlDoc *doc, size_t max_files, struct simple_project *p)
{
    xmlNode *n = doc->children;
    int rc = 0;

    while (n != NULL) {
        bool descend = true;

        if (n->type == XML_ELEMENT_NODE) {
            if (skipped_element(n->name)) {
                descend = false;
            } else if (name_is(n->name, "a")) {
                rc = take_anchor(n, max_files, p);
                if (rc != 0)
                    return rc;
                descend = false;
            } else if (name_is(n->name, "meta")) {
                take_meta(n, p);
            } else if (name_is(n->name, "base") && p->base_url == NULL) {
                p->base_url = attr_dup(n, "href");
            }
        }
        if (descend && n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != NULL && n->next == NULL) {
            n = n->parent;
            if (n == (xmlNode *)doc)
                n = NULL;
        }
        if (n != NULL)
            n = n->next;
    }
    return rc;
}

int simple_parse_html(const char *p, size_t len, size_t max_files, struct simple_project *out)
{
    struct simple_project proj;
    xmlDoc *doc = NULL;
    int rc;

    simple_project_init(&proj);
    if (len > INT_MAX) {
        rc = IMX_ETOOLARGE;
        goto out;
    }
    doc = htmlReadMemory(p, (int)len, NULL, "UTF-8", SIMPLE_HTML_OPTS);
    if (doc == NULL) {
        rc = IMX_ESYNTAX;
        goto out;
    }
    rc = walk(doc, max_files, &proj);
    if (rc != 0)
        goto out;
    simple__project_move(out, &proj);
out:
    xmlFreeDoc(doc);
    simple_project_release(&proj);
    return rc;
}

/* ---- rendering ---- */

/*
 * Append s with & < > " ' escaped: safe in text and in quoted attributes.
 * Used for the page head; files are written by render_file below.
 */
static int put_esc(struct buf *b, const char *s)
{
    const char *run = s;
    int rc = 0;

    for (; *s != '\0' && rc == 0; s++) {
        const char *rep;
        /* Skip to the next byte that needs escaping (strcspn is vectorised). */
        s += strcspn(s, "&<>\"'");
        if (*s == '\0')
            break;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        rc = buf_append(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = buf_appends(b, rep);
        run = s + 1;
    }
    if (rc == 0)
        rc = buf_append(b, run, (size_t)(s - run));
    return rc;
}

static int put_meta(struct buf *b, const char *name, const char *content)
{
    int rc = buf_printf(b, "    <meta name=\"%s\" content=\"", name);
    if (rc == 0)
        rc = put_esc(b, content);
    if (rc == 0)
        rc = buf_appends(b, "\">\n");
    return rc;
}

/*
 * A file's anchor is written straight into room reserved for its worst
 * case (every byte of every string escaped as "&quot;", 6 bytes), with a
 * cursor: no per-piece capacity checks, no printf. numpy's page has 3,464
 * anchors, and the checked appends and printf calls they replaced were
 * half of its rendering time.
 */
#define HTML_ESC_MAX 6
/* The literal text of an anchor with every attribute, and a 20-digit size. */
#define HTML_FILE_FIXED 256

/* Write s (len bytes, NUL at s[len]) escaped; returns the cursor after it. */
static char *esc_to(char *w, const char *s, size_t len)
{
    const char *end = s + len;

    for (;;) {
        size_t k = strcspn(s, "&<>\"'");
        memcpy(w, s, k);
        w += k;
        s += k;
        if (s >= end)
            return w;
        switch (*s++) {
        case '&':
            memcpy(w, "&amp;", 5);
            w += 5;
            break;
        case '<':
            memcpy(w, "&lt;", 4);
            w += 4;
            break;
        case '>':
            memcpy(w, "&gt;", 4);
            w += 4;
            break;
        case '"':
            memcpy(w, "&quot;", 6);
            w += 6;
            break;
        default: /* '\'' */
            memcpy(w, "&#39;", 5);
            w += 5;
            break;
        }
    }
}


/* A file's strings and their lengths, measured once. */
struct file_text {
    const char *url, *hname, *hvalue, *rp, *yanked, *mname, *mvalue, *upload, *prov, *fn;
    size_t url_n, hname_n, hvalue_n, rp_n, yanked_n, mname_n, mvalue_n, upload_n, prov_n, fn_n;
};

static size_t opt_len(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Measure f; returns the most bytes its anchor can take. */
static size_t file_measure(const struct simple_file *f, struct file_text *t)
{
    const struct simple_hash *h = simple__preferred_hash(&f->hashes);
    const struct simple_hash *m =
        f->core_metadata ? simple__preferred_hash(&f->core_metadata_hashes) : NULL;
    size_t sum;

    memset(t, 0, sizeof(*t));
    t->url = f->url ? f->url : "";
    t->url_n = strlen(t->url);
    if (h) {
        t->hname = h->name;
        t->hname_n = strlen(h->name);
        t->hvalue = h->value;
        t->hvalue_n = strlen(h->value);
    }
    t->rp = f->requires_python;
    t->rp_n = opt_len(t->rp);
    if (f->yanked == SIMPLE_YANKED) {
        t->yanked = f->yanked_reason ? f->yanked_reason : "";
        t->yanked_n = strlen(t->yanked);
    }
    if (m) {
        t->mname = m->name;
        t->mname_n = strlen(m->name);
        t->mvalue = m->value;
        t->mvalue_n = strlen(m->value);
    }
    t->upload = f->upload_time;
    t->upload_n = opt_len(t->upload);
    t->prov = f->provenance;
    t->prov_n = opt_len(t->prov);
    t->fn = f->filename ? f->filename : "";
    t->fn_n = strlen(t->fn);
    /* Strings live in memory, so their sum is far from overflowing this. */
    sum = t->url_n + t->hname_n + t->hvalue_n + t->rp_n + t->yanked_n +
          2 * (t->mname_n + t->mvalue_n) + t->upload_n + t->prov_n + t->fn_n;
    return HTML_FILE_FIXED + HTML_ESC_MAX * sum;
}

/* Write the anchor of f (measured into t); returns the cursor after it. */
static char *file_write(char *w, const struct simple_file *f, const struct file_text *t)
{
    SIMPLE__PUT_LIT(w, "    <a href=\"");
    w = esc_to(w, t->url, t->url_n);
    if (t->hname) {
        *w++ = '#';
        w = esc_to(w, t->hname, t->hname_n);
        *w++ = '=';
        w = esc_to(w, t->hvalue, t->hvalue_n);
    }
    *w++ = '"';
    if (t->rp) {
        SIMPLE__PUT_LIT(w, " data-requires-python=\"");
        w = esc_to(w, t->rp, t->rp_n);
        *w++ = '"';
    }
    /* never a bare data-yanked: pip reads it as "not yanked" */
    if (t->yanked) {
        SIMPLE__PUT_LIT(w, " data-yanked=\"");
        w = esc_to(w, t->yanked, t->yanked_n);
        *w++ = '"';
    }
    if (f->core_metadata) {
        /* PEP 714: both names with one value ("<hash>=<hex>" or "true"), never "false" */
        static const char *const attrs[] = {" data-dist-info-metadata=\"",
                                            " data-core-metadata=\""};
        for (size_t i = 0; i < ARRAY_SIZE(attrs); i++) {
            size_t n = strlen(attrs[i]);
            memcpy(w, attrs[i], n);
            w += n;
            if (t->mname) {
                w = esc_to(w, t->mname, t->mname_n);
                *w++ = '=';
                w = esc_to(w, t->mvalue, t->mvalue_n);
            } else {
                SIMPLE__PUT_LIT(w, "true");
            }
            *w++ = '"';
        }
    }
    if (t->upload) {
        SIMPLE__PUT_LIT(w, " data-upload-time=\"");
        w = esc_to(w, t->upload, t->upload_n);
        *w++ = '"';
    }
    if (f->size >= 0) {
        SIMPLE__PUT_LIT(w, " data-size=\"");
        w = str_put_u64(w, (uint64_t)f->size);
        *w++ = '"';
    }
    if (t->prov) {
        SIMPLE__PUT_LIT(w, " data-provenance=\"");
        w = esc_to(w, t->prov, t->prov_n);
        *w++ = '"';
    }
    *w++ = '>';
    w = esc_to(w, t->fn, t->fn_n);
    SIMPLE__PUT_LIT(w, "</a><br/>\n");
    return w;
}

static int render_file(const struct simple_file *f, struct buf *b)
{
    struct file_text t;
    size_t most = file_measure(f, &t);
    struct buf one;
    char *w;
    int rc;

    if (buf_reserve(b, most) == 0) {
        w = file_write(b->p + b->len, f, &t);
        buf_commit(b, (size_t)(w - (b->p + b->len)));
        return 0;
    }
    /* Near the cap the worst case does not fit, the real bytes may: append them checked. */
    buf_init(&one, BUF_NOMAX);
    if (buf_reserve(&one, most) != 0)
        return IMX_ETOOLARGE;
    w = file_write(one.p, f, &t);
    buf_commit(&one, (size_t)(w - one.p));
    rc = buf_append(b, one.p, one.len);
    buf_release(&one);
    return rc;
}

int simple_render_html(const struct simple_project *p, const char *name, struct buf *out)
{
    const char *title = name ? name : (p->name ? p->name : "");
    size_t start = out->len;
    int rc;

    rc = buf_appends(out, "<!DOCTYPE html>\n<html>\n  <head>\n");
    if (rc == 0)
        rc = put_meta(out, "pypi:repository-version", simple__api_version(p));
    if (rc == 0 && p->status != NULL)
        rc = put_meta(out, "pypi:project-status", p->status);
    if (rc == 0 && p->status != NULL && p->status_reason != NULL)
        rc = put_meta(out, "pypi:project-status-reason", p->status_reason);
    if (rc == 0)
        rc = buf_appends(out, "    <title>Links for ");
    if (rc == 0)
        rc = put_esc(out, title);
    if (rc == 0)
        rc = buf_appends(out, "</title>\n  </head>\n  <body>\n    <h1>Links for ");
    if (rc == 0)
        rc = put_esc(out, title);
    if (rc == 0)
        rc = buf_appends(out, "</h1>\n");
    for (size_t i = 0; i < p->nfiles && rc == 0; i++)
        rc = render_file(&p->files[i], out);
    if (rc == 0)
        rc = buf_appends(out, "  </body>\n</html>\n");
    if (rc != 0)
        out->len = start; /* all or nothing */
    if (out->p != NULL)
        out->p[out->len] = '\0';
    return rc;
}

/* ---- project lists ---- */

/*
 * PEP 503 normalisation, kept local: lower-case, runs of - _ . become one
 * '-'. (resolver/pep/pkgname.c has the project-wide version; this file must
 * not depend on it while both are written.)
 */
static char *normalize_dup(const char *name)
{
    size_t len = strlen(name);
    char *d = xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '-' || c == '_' || c == '.') {
            if (o == 0 || d[o - 1] != '-')
                d[o++] = '-';
            continue;
        }
        d[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    d[o] = '\0';
    return d;
}

int simple_index_render_html(const struct simple_index *ix, struct buf *out)
{
    size_t start = out->len;
    int rc;

    rc = buf_appends(out, "<!DOCTYPE html>\n<html>\n  <head>\n");
    if (rc == 0)
        rc = put_meta(out, "pypi:repository-version", "1.0");
    if (rc == 0)
        rc = buf_appends(out, "    <title>Simple index</title>\n  </head>\n  <body>\n");
    for (size_t i = 0; i < ix->n && rc == 0; i++) {
        char *norm = normalize_dup(ix->names[i]);
        rc = buf_appends(out, "    <a href=\"");
        if (rc == 0)
            rc = put_esc(out, norm);
        if (rc == 0)
            rc = buf_appends(out, "/\">");
        if (rc == 0)
            rc = put_esc(out, ix->names[i]);
        if (rc == 0)
            rc = buf_appends(out, "</a><br/>\n");
        free(norm);
    }
    if (rc == 0)
        rc = buf_appends(out, "  </body>\n</html>\n");
    if (rc != 0)
        out->len = start;
    if (out->p != NULL)
        out->p[out->len] = '\0';
    return rc;
}

/*
 * Streaming project-list parser. SAX callbacks only: no tree is built, so
 * memory is the name list plus libxml2's window over the input.
 *
 * State: `skip` counts open <script>/<style>/<template> elements (their text
 * is never a name); `in_a` is set between <a> and </a>, with the anchor text
 * collected in `text` (capped at SIMPLE_NAME_MAX; longer texts are dropped).
 * `rc` is sticky: the first error stops the parser and every later call
 * returns it.
 */
struct simple_index_html {
    htmlParserCtxtPtr ctxt;
    struct simple_index ix;
    size_t max_names;
    int rc;
    int skip;
    bool in_a;
    struct buf text;
};

static void sax_start(void *ud, const xmlChar *name, const xmlChar **atts)
{
    struct simple_index_html *s = ud;

    UNUSED(atts);
    if (skipped_element(name)) {
        s->skip++;
    } else if (name_is(name, "a") && s->skip == 0) {
        s->in_a = true;
        buf_reset(&s->text);
    }
}

static void sax_end(void *ud, const xmlChar *name)
{
    struct simple_index_html *s = ud;
    struct str t;

    if (skipped_element(name)) {
        if (s->skip > 0)
            s->skip--;
        return;
    }
    if (!name_is(name, "a") || !s->in_a)
        return;
    s->in_a = false;
    t = str_trim(str_make(buf_cstr(&s->text), s->text.len));
    if (t.len == 0 || s->rc != 0)
        return;
    if (s->ix.n >= s->max_names) {
        s->rc = IMX_ETOOLARGE;
        xmlStopParser(s->ctxt);
        return;
    }
    {
        char *v = simple__utf8_dup(t.p, t.len);
        simple_index_add(&s->ix, v, strlen(v));
        free(v);
    }
}

static void sax_chars(void *ud, const xmlChar *ch, int len)
{
    struct simple_index_html *s = ud;

    if (s->in_a && s->skip == 0 && len > 0) {
        /* too long for a name: the append fails and the anchor is dropped below */
        if (buf_append(&s->text, ch, (size_t)len) != 0)
            s->in_a = false;
    }
}

static void sax_cdata(void *ud, const xmlChar *ch, int len)
{
    /* <script>/<style> bodies arrive here: never names */
    UNUSED(ud);
    UNUSED(ch);
    UNUSED(len);
}

struct simple_index_html *simple_index_html_new(size_t max_names)
{
    struct simple_index_html *s = xcalloc(1, sizeof(*s));
    htmlSAXHandler sax;

    memset(&sax, 0, sizeof(sax));
    sax.startElement = sax_start;
    sax.endElement = sax_end;
    sax.characters = sax_chars;
    sax.cdataBlock = sax_cdata;
    simple_index_init(&s->ix);
    buf_init(&s->text, SIMPLE_NAME_MAX);
    s->max_names = max_names;
    s->ctxt = htmlCreatePushParserCtxt(&sax, s, NULL, 0, NULL, XML_CHAR_ENCODING_UTF8);
    if (s->ctxt == NULL)
        abort(); /* only fails on out-of-memory */
    htmlCtxtUseOptions(s->ctxt, SIMPLE_HTML_OPTS);
    return s;
}

int simple_index_html_feed(struct simple_index_html *s, const char *p, size_t len)
{
    while (len > 0 && s->rc == 0) {
        int n = len > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)len;
        htmlParseChunk(s->ctxt, p, n, 0);
        p += n;
        len -= (size_t)n;
    }
    return s->rc;
}

int simple_index_html_finish(struct simple_index_html *s, struct simple_index *out)
{
    if (s->rc == 0)
        htmlParseChunk(s->ctxt, NULL, 0, 1);
    if (s->rc != 0)
        return s->rc;
    simple_index_release(out);
    *out = s->ix;
    simple_index_init(&s->ix);
    return 0;
}

void simple_index_html_free(struct simple_index_html *s)
{
    if (s == NULL)
        return;
    if (s->ctxt != NULL) {
        if (s->ctxt->myDoc != NULL)
            xmlFreeDoc(s->ctxt->myDoc);
        htmlFreeParserCtxt(s->ctxt);
    }
    simple_index_release(&s->ix);
    buf_release(&s->text);
    free(s);
}
