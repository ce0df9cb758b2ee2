/*
 * parsed.c - parsed upstream pages as the resolver shares them (struct
 * rsv__parsed): the page model plus, for every file, what the merge and the
 * link rewriting need of it (struct rsv__pfile), worked out once here
 * instead of on every rendering.
 *
 * A parsed page is built by project.c when it reads a page record, then
 * kept in the parsed-page cache and referenced by every merge that reads
 * it; it is immutable from rsv__parsed_new_take until its last
 * rsv__parsed_unref, so any thread may read it, and a merged page may
 * borrow its strings for as long as it holds a reference (merge.c).
 *
 * What is precomputed per file, and why it is the same as computing it on
 * the merged page: every field is a function of the file alone (its
 * filename, its hashes, the index and URL behind its key), and the merge
 * copies files without changing them.
 */
#include "compat.h"

#include <strings.h>

#include "err.h"
#include "resolver_int.h"
#include "str.h"
#include "version.h"
#include "wheel.h"
#include "xalloc.h"

/* Longest normalized version kept (the merge's "versions" skipped longer ones). */
#define VERSION_TEXT_MAX 1024

uint64_t rsv__hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void rsv__segment_encode(struct buf *out, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    const char *run = s;

    /* Unreserved bytes are copied in runs; only the rest is escaped. */
    for (;; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            continue;
        buf_append(out, run, (size_t)(s - run));
        if (c == '\0')
            break;
        {
            char esc[3] = {'%', hexd[c >> 4], hexd[c & 15]};
            buf_append(out, esc, sizeof(esc));
        }
        run = s + 1;
    }
}

/* The version a wheel or sdist filename carries, as written (a slice of it). */
static int file_version(const char *filename, struct str *out)
{
    struct wheel_name w;
    struct sdist_name sd;
    size_t len = strlen(filename);

    if (wheel_parse(filename, len, &w) == 0) {
        *out = w.version;
        return 0;
    }
    if (sdist_parse(filename, len, &sd) == 0) {
        *out = sd.version;
        return 0;
    }
    return IMX_ESYNTAX;
}

/*
 * Normalized versions of one page, each stored once in the page's arena:
 * files of one version share its pointer (open addressing on the text).
 */
struct vintern {
    const char **slot;
    size_t cap;
    size_t n;
};

static const char *vintern_get(struct vintern *vi, struct arena *a, const char *text, size_t len)
{
    uint64_t h;
    size_t j;

    if ((vi->n + 1) * 2 > vi->cap) {
        size_t ncap = vi->cap ? vi->cap * 2 : 64;
        const char **nslot = xcalloc(ncap, sizeof(*nslot));
        for (size_t i = 0; i < vi->cap; i++) {
            if (!vi->slot[i])
                continue;
            j = rsv__hash_str(vi->slot[i]) & (ncap - 1);
            while (nslot[j])
                j = (j + 1) & (ncap - 1);
            nslot[j] = vi->slot[i];
        }
        free(vi->slot);
        vi->slot = nslot;
        vi->cap = ncap;
    }
    h = rsv__hash_str(text);
    for (j = h & (vi->cap - 1); vi->slot[j]; j = (j + 1) & (vi->cap - 1)) {
        if (strcmp(vi->slot[j], text) == 0)
            return vi->slot[j];
    }
    vi->slot[j] = arena_strndup(a, text, len);
    vi->n++;
    return vi->slot[j];
}

static bool filename_is_wheel(const char *filename)
{
    size_t n = strlen(filename);
    return n > 4 && strcasecmp(filename + n - 4, ".whl") == 0;
}

struct rsv__parsed *rsv__parsed_new_take(const char *index, struct simple_project *page)
{
    struct rsv__parsed *pp = xcalloc(1, sizeof(*pp));
    struct vintern vi = {NULL, 0, 0};
    struct str prev_raw = STR_NULL;
    const char *prev_version = NULL;
    struct buf v, seg;

    pp->refs = 1;
    pp->page = *page;
    simple_project_init(page);
    arena_init(&pp->arena, 0);
    pp->files = xcalloc(pp->page.nfiles + 1, sizeof(*pp->files));
    buf_init(&v, VERSION_TEXT_MAX);
    buf_init(&seg, BUF_NOMAX);
    for (size_t i = 0; i < pp->page.nfiles; i++) {
        const struct simple_file *f = &pp->page.files[i];
        struct rsv__pfile *pf = &pp->files[i];
        const char *fn = f->filename ? f->filename : "";
        struct str raw;

        rsv__file_key(index, f->url ? f->url : "", pf->key);
        pf->sha256 = simple_hashes_get(&f->hashes, "sha256");
        pf->md_sha256 = simple_hashes_get(&f->core_metadata_hashes, "sha256");
        pf->is_wheel = filename_is_wheel(fn);
        pf->name_hash = rsv__hash_str(fn);
        buf_reset(&seg);
        rsv__segment_encode(&seg, fn);
        pf->segment = arena_strndup(&pp->arena, buf_cstr(&seg), seg.len);
        pf->segment_len = seg.len;
        /* Files of one version come in runs: normalize once per run. */
        if (file_version(fn, &raw) != 0)
            continue;
        if (prev_raw.p && str_eq(raw, prev_raw)) {
            pf->version = prev_version;
            continue;
        }
        prev_raw = raw;
        prev_version = NULL;
        buf_reset(&v);
        if (version_normalize(raw.p, raw.len, &v) != 0)
            continue;
        prev_version = vintern_get(&vi, &pp->arena, buf_cstr(&v), v.len);
        pf->version = prev_version;
    }
    buf_release(&v);
    buf_release(&seg);
    free(vi.slot);
    return pp;
}

struct rsv__parsed *rsv__parsed_ref(struct rsv__parsed *pp)
{
    __atomic_add_fetch(&pp->refs, 1, __ATOMIC_RELAXED);
    return pp;
}

void rsv__parsed_unref(struct rsv__parsed *pp)
{
    if (!pp || __atomic_sub_fetch(&pp->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    simple_project_release(&pp->page);
    free(pp->files);
    arena_release(&pp->arena);
    free(pp);
}

size_t rsv__parsed_footprint(const struct rsv__parsed *pp)
{
    return sizeof(*pp) + (pp->page.nfiles + 1) * sizeof(*pp->files) +
           arena_footprint(&pp->arena);
}
