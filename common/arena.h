/*
 * arena.h - many small allocations that are freed together (git's
 * mem-pool.c, nginx's ngx_pool_t).
 *
 * Strings and small arrays made for one object (the per-file extras of a
 * parsed page, the rewritten links of a merged page) are carved out of a
 * few big chunks instead of thousands of malloc calls, and all freed at
 * once by arena_release. Nothing is freed piecemeal.
 *
 * Allocation never returns NULL: like xmalloc it aborts on out-of-memory.
 * An arena has no cap of its own: its users put into it only pieces of
 * inputs that were capped where they were read (an upstream page is at most
 * max-page-size), so an arena stays a small multiple of those.
 *
 * Calling sequence: arena_init -> arena_alloc / arena_strndup ... ->
 * arena_release (the arena may then be used again). Not thread-safe; what
 * it holds may be read by any thread once it is no longer being filled.
 */
#ifndef IMX_ARENA_H
#define IMX_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* the chunk being filled; older chunks follow */
    size_t chunk_size;        /* usable bytes of a new chunk */
    size_t footprint;         /* bytes obtained from malloc, chunk headers included */
};

#define ARENA_DEFAULT_CHUNK (64u << 10)

/* An empty arena; nothing is allocated before the first arena_alloc. */
void arena_init(struct arena *a, size_t chunk_size);
/* Free every chunk (every pointer handed out dies) and reinitialise. NULL-safe. */
void arena_release(struct arena *a);
/*
 * n bytes aligned for any object (max_align_t), owned by the arena: valid
 * until arena_release. n == 0 gives a valid pointer that must not be
 * dereferenced. A request bigger than a quarter of the chunk size gets a
 * chunk of its own, so big pieces do not waste the current chunk.
 */
void *arena_alloc(struct arena *a, size_t n);
/* n bytes with no alignment (text), owned by the arena as arena_alloc's. */
char *arena_alloc_bytes(struct arena *a, size_t n);
/* Copy n bytes of p (which need not be NUL-terminated) and add a NUL; unaligned. */
char *arena_strndup(struct arena *a, const char *p, size_t n);
/* Bytes obtained from malloc so far (for memory accounting). */
size_t arena_footprint(const struct arena *a);

#endif
