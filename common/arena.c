/*
 * arena.c - chunked allocation freed all at once; see arena.h.
 *
 * Chunks form a singly linked list, newest first. Small requests are cut
 * from the head chunk; when it is full a new chunk becomes the head (the
 * rest of the old one is wasted: at most a quarter of a chunk, since bigger
 * requests never come from a shared chunk). A big request gets a chunk of
 * exactly its size, linked behind the head so that the head keeps filling.
 */
#include "compat.h"

#include <stdalign.h>

#include "arena.h"
#include "xalloc.h"

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes in data */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : ARENA_DEFAULT_CHUNK;
    a->footprint = 0;
}

void arena_release(struct arena *a)
{
    struct arena_chunk *c;

    if (!a)
        return;
    c = a->head;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena_init(a, a->chunk_size);
}

static struct arena_chunk *chunk_new(struct arena *a, size_t size)
{
    struct arena_chunk *c;

    if (size > SIZE_MAX - sizeof(*c))
        abort();
    c = xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    a->footprint += sizeof(*c) + size;
    return c;
}

/* n bytes at an offset that is a multiple of align (a power of two). */
static void *take(struct arena *a, size_t n, size_t align)
{
    struct arena_chunk *c = a->head;
    size_t at;

    if (n > a->chunk_size / 4) {
        struct arena_chunk *big = chunk_new(a, n);
        big->used = n;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->head = big;
        }
        return big->data;
    }
    if (c) {
        at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->size && c->size - at >= n) {
            c->used = at + n;
            return c->data + at;
        }
    }
    c = chunk_new(a, a->chunk_size);
    c->next = a->head;
    a->head = c;
    c->used = n;
    return c->data;
}

void *arena_alloc(struct arena *a, size_t n)
{
    return take(a, n, alignof(max_align_t));
}

char *arena_alloc_bytes(struct arena *a, size_t n)
{
    return take(a, n, 1);
}

char *arena_strndup(struct arena *a, const char *p, size_t n)
{
    char *d;

    if (n == SIZE_MAX)
        abort();
    d = take(a, n + 1, 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

size_t arena_footprint(const struct arena *a)
{
    return a->footprint;
}
