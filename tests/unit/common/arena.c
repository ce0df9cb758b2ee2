/* Tests for common/arena.c: alignment, big pieces, contents kept, release and reuse. */
#include "compat.h"

#include <criterion/criterion.h>
#include <stdalign.h>

#include "arena.h"
#include "xalloc.h"

Test(arena, empty_arena_allocates_nothing)
{
    struct arena a;
    arena_init(&a, 0);
    cr_assert_eq(a.chunk_size, ARENA_DEFAULT_CHUNK);
    cr_assert_eq(arena_footprint(&a), 0);
    arena_release(&a);
    arena_release(NULL);
}

Test(arena, allocations_are_aligned_and_disjoint)
{
    /* Sizes that straddle chunk ends and the quarter-chunk limit of a 256-byte chunk. */
    static const size_t sizes[] = {0, 1, 3, 8, 15, 16, 17, 63, 64, 65, 100, 200, 256, 1000, 5};
    struct arena a;
    unsigned char *p[ARRAY_SIZE(sizes) * 20];
    size_t n = 0;

    arena_init(&a, 256);
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++, n++) {
            p[n] = arena_alloc(&a, sizes[i]);
            cr_assert_not_null(p[n]);
            cr_assert_eq((uintptr_t)p[n] % alignof(max_align_t), 0, "size %zu misaligned",
                         sizes[i]);
            memset(p[n], (int)(n & 0xff), sizes[i]);
        }
    }
    n = 0;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++, n++) {
            for (size_t k = 0; k < sizes[i]; k++)
                cr_assert_eq(p[n][k], (unsigned char)(n & 0xff), "piece %zu overwritten", n);
        }
    }
    cr_assert_gt(arena_footprint(&a), 20 * 1000);
    arena_release(&a);
    cr_assert_eq(arena_footprint(&a), 0);
    cr_assert_eq(a.chunk_size, 256, "release keeps the chunk size");
}

Test(arena, strndup_copies_and_terminates)
{
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        {"", 0, ""},
        {"abc", 3, "abc"},
        {"abcdef", 2, "ab"},
        {"no NUL needed here", 7, "no NUL "},
    };
    struct arena a;

    arena_init(&a, 64);
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
            char *s = arena_strndup(&a, cases[i].in, cases[i].n);
            cr_assert_str_eq(s, cases[i].want);
        }
    }
    arena_release(&a);
}

Test(arena, big_pieces_do_not_waste_the_current_chunk)
{
    struct arena a;
    char *small1, *big, *small2;

    arena_init(&a, 1024);
    small1 = arena_strndup(&a, "x", 1);
    big = arena_alloc(&a, 4096);
    small2 = arena_alloc_bytes(&a, 2);
    memcpy(small2, "y", 2);
    memset(big, 'b', 4096);
    /* The second small piece follows the first one in the same chunk. */
    cr_assert_eq(small2, small1 + 2);
    cr_assert_str_eq(small1, "x");
    cr_assert_str_eq(small2, "y");
    /* A big piece first, then small ones: both usable. */
    arena_release(&a);
    big = arena_alloc(&a, 4096);
    small1 = arena_strndup(&a, "z", 1);
    memset(big, 'c', 4096);
    cr_assert_str_eq(small1, "z");
    arena_release(&a);
}

Test(arena, reusable_after_release)
{
    struct arena a;
    arena_init(&a, 128);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) {
            char *s = arena_strndup(&a, "0123456789", 10);
            cr_assert_str_eq(s, "0123456789");
        }
        arena_release(&a);
    }
}
