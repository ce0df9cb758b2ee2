/*
 * fuzz_toml.c - libFuzzer driver for the TOML parser: parse arbitrary bytes
 * and, when they parse, walk the whole tree checking the invariants every
 * caller relies on (positions set, strings NUL-terminated, depth bounded,
 * every table member found again by toml_get), then load the same bytes as
 * an indexmux configuration so the schema layer (and its built-in marker
 * check) sees the same inputs.
 */
#include "compat.h"

#include "config.h"
#include "err.h"
#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_toml_walk(const struct toml_node *n, unsigned depth)
{
    size_t i;

    if (depth > TOML_MAX_DEPTH || n->line == 0 || n->col == 0)
        abort();
    if (n->s && n->s[n->slen] != '\0')
        abort();
    for (i = 0; i < n->nkids; i++) {
        const struct toml_node *k = n->kids[i];
        if (n->type == TOML_TABLE) {
            if (!k->key || k->key[k->keylen] != '\0')
                abort();
            /* keys with NUL cannot be looked up by C string */
            if (strlen(k->key) == k->keylen && toml_get(n, k->key) != k)
                abort();
        }
        fuzz_toml_walk(k, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct toml_node *root = NULL;
    struct buf err;
    int rc;

    buf_init(&err, 1 << 16);
    rc = toml_parse((const char *)data, size, &root, &err);
    if (rc == 0) {
        fuzz_toml_walk(root, 0);
        toml_free(root);
    } else if (err.len == 0) {
        abort(); /* every failure explains itself */
    }
    buf_reset(&err);
    {
        struct config cfg;
        struct buf warn;
        buf_init(&warn, 1 << 16);
        if (config_load_string("fuzz", (const char *)data, size, NULL, &cfg, &err, &warn) == 0)
            config_release(&cfg);
        buf_release(&warn);
    }
    buf_release(&err);
    return 0;
}
