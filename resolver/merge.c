/*
 * merge.c - virtual indexes: one page per (view, project) built from several
 * upstream pages by uv's rules (SPEC.md section 5).
 *
 * For a project P with sources [(I1,M1)...(In,Mn)] in view V:
 *   - each file's environment comes from its filename (wheel tags; pure
 *     wheels and sdists leave the platform unknown);
 *   - a file of source Ik is kept iff Mk(f) is not false and no earlier
 *     source has Mj(f) true;
 *   - a file of V's indexes is kept iff no source has Mk(f) true;
 *     first-index takes the first index whose page exists, unsafe-best-match
 *     unites them all;
 *   - the same filename twice: the first (sources, then indexes) wins;
 *   - fail closed: an index that must be asked and cannot be read makes the
 *     whole page an error, never a page without it.
 * Every decision can be recorded for `indexmux explain`.
 */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "err.h"
#include "log.h"
#include "marker.h"
#include "metrics_int.h"
#include "resolver_int.h"
#include "version.h"
#include "wheel.h"
#include "xalloc.h"

/* Parsed markers: marker[view][pin][source], flattened. */
struct rsv__markers {
    struct marker **m;
    size_t n;
    size_t *view_pins;  /* per view: index of its first pin in pin_slot */
    size_t *pin_slot;   /* per pin of every view: slot of its first source in m */
};

static size_t marker_slot(const struct rsv__markers *mk, const struct config *cfg,
                          const struct config_view *v, const struct config_pin *p, size_t s)
{
    size_t vi = (size_t)(v - cfg->views);
    size_t pi = (size_t)(p - v->pins);
    return mk->pin_slot[mk->view_pins[vi] + pi] + s;
}

int rsv__markers_new(const struct config *cfg, struct rsv__markers **out, struct buf *why)
{
    struct rsv__markers *mk = xcalloc(1, sizeof(*mk));
    size_t total = 0;
    size_t slot = 0;
    char err[256];

    size_t npins = 0;

    mk->view_pins = xcalloc(cfg->nviews + 1, sizeof(size_t));
    for (size_t v = 0; v < cfg->nviews; v++) {
        mk->view_pins[v] = npins;
        npins += cfg->views[v].npins;
    }
    mk->pin_slot = xcalloc(npins + 1, sizeof(size_t));
    for (size_t v = 0; v < cfg->nviews; v++) {
        for (size_t p = 0; p < cfg->views[v].npins; p++) {
            mk->pin_slot[mk->view_pins[v] + p] = total;
            total += cfg->views[v].pins[p].nsources;
        }
    }
    mk->n = total;
    mk->m = xcalloc(total + 1, sizeof(*mk->m));
    for (size_t v = 0; v < cfg->nviews; v++) {
        for (size_t p = 0; p < cfg->views[v].npins; p++) {
            const struct config_pin *pin = &cfg->views[v].pins[p];
            for (size_t s = 0; s < pin->nsources; s++, slot++) {
                const char *text = pin->sources[s].marker;
                if (!text)
                    continue;
                if (marker_parse(text, strlen(text), &mk->m[slot], err, sizeof(err)) != 0) {
                    buf_printf(why, "virtual.%s.sources.%s: bad marker '%s': %s",
                               cfg->views[v].name, pin->project, text, err);
                    rsv__markers_free(mk);
                    return IMX_ECONFIG;
                }
            }
        }
    }
    *out = mk;
    return 0;
}

void rsv__markers_free(struct rsv__markers *mk)
{
    if (!mk)
        return;
    for (size_t i = 0; i < mk->n; i++)
        marker_free(mk->m[i]);
    free(mk->m);
    free(mk->view_pins);
    free(mk->pin_slot);
    free(mk);
}

void rsv__merged_init(struct rsv__merged *m)
{
    memset(m, 0, sizeof(*m));
    simple_project_init(&m->page);
    arena_init(&m->arena, 0);
}

void rsv__merged_release(struct rsv__merged *m)
{
    if (!m)
        return;
    /* Only the arrays are the page's own; their strings are borrowed (resolver_int.h). */
    free(m->page.files);
    free(m->page.versions);
    free(m->origin);
    free(m->info);
    for (size_t i = 0; i < m->ninputs; i++)
        rsv__parsed_unref(m->inputs[i]);
    free(m->inputs);
    arena_release(&m->arena);
    rsv__merged_init(m);
}

void rsv__explain_add(struct rsv__explain *ex, const char *index, const char *filename, bool kept,
                      const char *fmt, ...)
{
    va_list ap;
    struct rsv__decision *d;
    struct buf b;

    if (!ex)
        return;
    ex->v = xgrow(ex->v, &ex->cap, ex->n + 1, sizeof(*ex->v));
    d = &ex->v[ex->n++];
    d->index = index;
    d->filename = xstrdup(filename);
    d->kept = kept;
    buf_init(&b, 4096);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    d->rule = buf_detach(&b, NULL);
}

void rsv__explain_release(struct rsv__explain *ex)
{
    if (!ex)
        return;
    for (size_t i = 0; i < ex->n; i++) {
        free(ex->v[i].filename);
        free(ex->v[i].rule);
    }
    free(ex->v);
    memset(ex, 0, sizeof(*ex));
}

/* ---- a filename set for de-duplication (open addressing) ---- */

struct nameset {
    size_t *slot; /* file index + 1, 0 empty */
    size_t cap;
};

/*
 * Make room for `n` names (at most half full): one rehash, however many
 * files a page adds. Names were hashed when their page was parsed
 * (rsv__pfile.name_hash).
 */
static void nameset_reserve(struct nameset *ns, const struct rsv__merged *m, size_t n)
{
    size_t ncap = ns->cap ? ns->cap : 1024;
    size_t *nslot;

    while (ncap < n * 2)
        ncap *= 2;
    if (ncap == ns->cap)
        return;
    nslot = xcalloc(ncap, sizeof(*nslot));
    for (size_t i = 0; i < ns->cap; i++) {
        size_t v = ns->slot[i];
        size_t j;
        if (!v)
            continue;
        j = m->info[v - 1]->name_hash & (ncap - 1);
        while (nslot[j])
            j = (j + 1) & (ncap - 1);
        nslot[j] = v;
    }
    free(ns->slot);
    ns->slot = nslot;
    ns->cap = ncap;
}

/* Index of the file named `name` in m, or -1; `*free_slot` where to insert it. */
static ptrdiff_t nameset_find(const struct nameset *ns, const struct rsv__merged *m,
                              const char *name, uint64_t hash, size_t *free_slot)
{
    size_t j = hash & (ns->cap - 1);
    while (ns->slot[j]) {
        size_t k = ns->slot[j] - 1;
        if (m->info[k]->name_hash == hash && strcmp(m->page.files[k].filename, name) == 0)
            return (ptrdiff_t)k;
        j = (j + 1) & (ns->cap - 1);
    }
    *free_slot = j;
    return -1;
}

struct merge_state {
    struct rsv *r;
    struct rsv__merged *out;
    struct nameset names;
    struct rsv__explain *ex;
    const char *project;
    const struct config_view *view; /* for the routing counters; NULL: index alone */
    /*
     * Files decided by each rule, added to the view's counters once at the
     * end: one atomic add per file (3,464 for numpy) made every rendering
     * bounce the counters' cache line between the threads rendering.
     */
    uint64_t rules[RSV_RULE__N];
};

/*
 * Add f (from ix, precomputed data pf) unless its filename is already
 * there; true when added. The file is copied shallowly: its strings stay
 * borrowed from its parsed page (rsv__merged).
 */
static bool add_file(struct merge_state *st, const struct config_index *ix,
                     const struct simple_file *f, const struct rsv__pfile *pf,
                     const char *why_kept)
{
    struct rsv__merged *m = st->out;
    struct simple_project *p = &m->page;
    size_t free_slot = 0;
    ptrdiff_t dup;

    if (!f->filename || !f->filename[0])
        return false;
    nameset_reserve(&st->names, m, p->nfiles + 1);
    dup = nameset_find(&st->names, m, f->filename, pf->name_hash, &free_slot);
    if (dup >= 0) {
        const char *a = m->info[dup]->sha256;
        const char *b = pf->sha256;
        if (a && b && strcmp(a, b) != 0) {
            log_warnx("'%s' of '%s' differs between '%s' and '%s': keeping the one from '%s'",
                      f->filename, st->project, st->out->origin[dup]->name, ix->name,
                      st->out->origin[dup]->name);
            rsv__count_hash_conflict(st->r);
        }
        st->rules[RSV_RULE_DUPLICATE]++;
        rsv__explain_add(st->ex, ix->name, f->filename, false, "duplicate of the file from '%s'",
                         st->out->origin[dup]->name);
        return false;
    }
    p->files = xgrow(p->files, &p->capfiles, p->nfiles + 1, sizeof(*p->files));
    m->origin = xgrow(m->origin, &m->cap, p->nfiles + 1, sizeof(*m->origin));
    m->info = xgrow(m->info, &m->info_cap, p->nfiles + 1, sizeof(*m->info));
    p->files[p->nfiles] = *f;
    m->origin[p->nfiles] = ix;
    m->info[p->nfiles] = pf;
    p->nfiles++;
    st->names.slot[free_slot] = p->nfiles;
    rsv__explain_add(st->ex, ix->name, f->filename, true, "%s", why_kept);
    return true;
}

/*
 * PEP 792 project status passes through: from the first page that has one,
 * in the order the rules consult the pages (sources, then indexes).
 */
static void take_status(struct rsv__merged *out, const struct simple_project *in)
{
    if (out->page.status || !in->status)
        return;
    out->page.status = in->status; /* borrowed, like the files */
    out->page.status_reason = in->status_reason;
}

/*
 * Keep a reference to a present input page: the merged page borrows its
 * strings. Room for its files is made at once (the common case: one page).
 */
static void keep_input(struct merge_state *st, const struct rsv__ipage *pg)
{
    struct rsv__merged *out = st->out;
    size_t need = out->page.nfiles + pg->page->nfiles;

    out->inputs = xgrow(out->inputs, &out->inputs_cap, out->ninputs + 1, sizeof(*out->inputs));
    out->inputs[out->ninputs++] = rsv__parsed_ref(pg->parsed);
    out->page.files = xgrow(out->page.files, &out->page.capfiles, need, sizeof(*out->page.files));
    out->origin = xgrow(out->origin, &out->cap, need, sizeof(*out->origin));
    out->info = xgrow(out->info, &out->info_cap, need, sizeof(*out->info));
    nameset_reserve(&st->names, out, need);
}

/* The environment a file's name implies (SPEC 5.1); unknown when it says nothing. */
static void file_env(const char *filename, struct marker_env *env)
{
    filename_env(filename, strlen(filename), env);
}

static const char *marker_text(const struct config_source *s)
{
    return s->marker ? s->marker : "(no marker)";
}

static int get_input(struct rsv *r, const struct config_index *ix, const char *project,
                     struct rsv__ipage *pg, struct buf *stamps, int64_t *fresh_until,
                     struct buf *why)
{
    int rc = rsv__index_page(r, ix, project, pg, why);
    if (rc)
        return rc;
    buf_printf(stamps, "%s=%s;", ix->name, pg->stamp);
    if (pg->fresh_until < *fresh_until)
        *fresh_until = pg->fresh_until;
    return 0;
}

/*
 * Recompute "versions" from the files kept (PEP 700): every normalized
 * version once, in the order the files first show it. Each file's version
 * was normalized when its page was parsed (one pointer per version in a
 * page), so this only de-duplicates pointers, then texts across pages.
 */
static void recompute_versions(struct rsv__merged *m)
{
    struct simple_project *p = &m->page;
    const char **slot = NULL;
    const char *prev = NULL;
    size_t cap = 64;

    p->versions = NULL;
    p->nversions = 0;
    if (p->nfiles == 0)
        return;
    p->versions = xcalloc(p->nfiles, sizeof(*p->versions));
    while (cap < p->nfiles * 2)
        cap *= 2;
    slot = xcalloc(cap, sizeof(*slot));
    for (size_t i = 0; i < p->nfiles; i++) {
        const char *v = m->info[i]->version;
        size_t j;
        if (!v || v == prev)
            continue;
        prev = v;
        for (j = rsv__hash_str(v) & (cap - 1); slot[j]; j = (j + 1) & (cap - 1)) {
            if (slot[j] == v || strcmp(slot[j], v) == 0)
                break;
        }
        if (slot[j])
            continue;
        slot[j] = v;
        /* Borrowed from the parsed page, like every string of the merged page. */
        p->versions[p->nversions++] = (char *)(uintptr_t)v;
    }
    free(slot);
}

int rsv__merge(struct rsv *r, const struct rsv__route *rt, const char *project,
               struct rsv__merged *out, struct buf *stamps, int64_t *fresh_until,
               struct rsv__explain *ex, struct buf *why)
{
    struct merge_state st = {r, out, {NULL, 0}, ex, project, NULL, {0}};
    const struct config *cfg = r->cfg;
    const struct config_view *v = rt->view;
    const struct config_pin *pin = NULL;
    struct rsv__ipage pg;
    struct marker_env env;
    bool any_present = false;
    int rc = 0;

    *fresh_until = INT64_MAX;
    memset(&pg, 0, sizeof(pg));

    if (!v) {
        rc = get_input(r, rt->index, project, &pg, stamps, fresh_until, why);
        if (rc)
            goto out;
        if (pg.state != RSV__PRESENT) {
            rc = IMX_ENOTFOUND;
            goto out;
        }
        keep_input(&st, &pg);
        take_status(out, pg.page);
        for (size_t i = 0; i < pg.page->nfiles; i++)
            add_file(&st, rt->index, &pg.page->files[i], &pg.files[i], "the index served alone");
        goto done;
    }

    pin = config_find_pin(v, project);
    st.view = v;

    /* 1. Sources, in order (SPEC 5.3). */
    for (size_t k = 0; pin && k < pin->nsources; k++) {
        const struct config_source *src = &pin->sources[k];
        const struct config_index *ix = &cfg->indexes[src->index];
        const struct marker *mk = r->markers->m[marker_slot(r->markers, cfg, v, pin, k)];

        rsv__ipage_release(&pg);
        rc = get_input(r, ix, project, &pg, stamps, fresh_until, why);
        if (rc)
            goto out; /* fail closed: a pinned index decides the page */
        if (pg.state != RSV__PRESENT)
            continue;
        any_present = true;
        keep_input(&st, &pg);
        take_status(out, pg.page);
        for (size_t i = 0; i < pg.page->nfiles; i++) {
            const struct simple_file *f = &pg.page->files[i];
            const struct rsv__pfile *pf = &pg.files[i];
            enum tri t;
            size_t shadow = SIZE_MAX;

            file_env(f->filename, &env);
            for (size_t j = 0; j < k && shadow == SIZE_MAX; j++) {
                const struct marker *mj = r->markers->m[marker_slot(r->markers, cfg, v, pin, j)];
                if (!mj || marker_eval(mj, &env) == TRI_TRUE)
                    shadow = j;
            }
            if (shadow != SIZE_MAX) {
                rsv__explain_add(ex, ix->name, f->filename, false,
                                 "source %zu ('%s', %s) is true for it first", shadow + 1,
                                 cfg->indexes[pin->sources[shadow].index].name,
                                 marker_text(&pin->sources[shadow]));
                st.rules[RSV_RULE_SHADOWED]++;
                continue;
            }
            t = mk ? marker_eval(mk, &env) : TRI_TRUE;
            if (t == TRI_FALSE) {
                rsv__explain_add(ex, ix->name, f->filename, false,
                                 "source %zu marker %s is false", k + 1, marker_text(src));
                st.rules[RSV_RULE_MARKER_FALSE]++;
                continue;
            }
            {
                char why_kept[512];
                snprintf(why_kept, sizeof(why_kept), "source %zu marker %s is %s", k + 1,
                         marker_text(src), tri_name(t));
                if (add_file(&st, ix, f, pf, why_kept))
                    st.rules[RSV_RULE_SOURCE]++;
            }
        }
    }

    /* 2. The view's indexes (SPEC 5.4). */
    for (size_t i = 0; i < v->nindexes; i++) {
        const struct config_index *ix = &cfg->indexes[v->indexes[i]];

        rsv__ipage_release(&pg);
        rc = get_input(r, ix, project, &pg, stamps, fresh_until, why);
        if (rc)
            goto out; /* fail closed */
        if (pg.state != RSV__PRESENT)
            continue;
        any_present = true;
        keep_input(&st, &pg);
        take_status(out, pg.page);
        for (size_t n = 0; n < pg.page->nfiles; n++) {
            const struct simple_file *f = &pg.page->files[n];
            const struct rsv__pfile *pf = &pg.files[n];
            size_t pinned = SIZE_MAX;

            if (pin) {
                file_env(f->filename, &env);
                for (size_t k = 0; k < pin->nsources && pinned == SIZE_MAX; k++) {
                    const struct marker *mk =
                        r->markers->m[marker_slot(r->markers, cfg, v, pin, k)];
                    if (!mk || marker_eval(mk, &env) == TRI_TRUE)
                        pinned = k;
                }
            }
            if (pinned != SIZE_MAX) {
                rsv__explain_add(ex, ix->name, f->filename, false,
                                 "pinned to source %zu ('%s', %s), which is true for it",
                                 pinned + 1, cfg->indexes[pin->sources[pinned].index].name,
                                 marker_text(&pin->sources[pinned]));
                st.rules[RSV_RULE_PINNED_AWAY]++;
                continue;
            }
            if (add_file(&st, ix, f, pf, pin ? "fallback: no source marker is true for it"
                                         : "from the view's indexes"))
                st.rules[pin ? RSV_RULE_FALLBACK : RSV_RULE_INDEX]++;
        }
        if (v->strategy == CONFIG_FIRST_INDEX) {
            /* The rest are shadowed: recorded for explain, never fetched. */
            for (size_t j = i + 1; ex && j < v->nindexes; j++)
                rsv__explain_add(ex, cfg->indexes[v->indexes[j]].name, "*", false,
                                 "not consulted: first-index stopped at '%s'", ix->name);
            break;
        }
    }
    if (!any_present) {
        rc = IMX_ENOTFOUND;
        goto out;
    }
done:
    recompute_versions(out);
    rc = 0;
out:
    rsv__count_rules(r, st.view, st.rules);
    rsv__ipage_release(&pg);
    free(st.names.slot);
    return rc;
}
