/*
 * flight.c - single flight: when many threads need the same upstream page at
 * once, one fetches and the others wait for it and then read the cache
 * (Varnish's busy object, Go's singleflight). Keys are short strings.
 */
#include "compat.h"

#include <pthread.h>
#include <time.h>

#include "resolver_int.h"
#include "xalloc.h"

struct sf_call {
    char *key;
    int result;
    bool done;
    unsigned waiters;
    struct sf_call *next;
};

struct rsv__sf {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sf_call *calls;
};

struct rsv__sf *rsv__sf_new(void)
{
    struct rsv__sf *sf = xcalloc(1, sizeof(*sf));
    pthread_mutex_init(&sf->mu, NULL);
    pthread_cond_init(&sf->cv, NULL);
    return sf;
}

void rsv__sf_free(struct rsv__sf *sf)
{
    if (!sf)
        return;
    assert(sf->calls == NULL);
    pthread_mutex_destroy(&sf->mu);
    pthread_cond_destroy(&sf->cv);
    free(sf);
}

int rsv__sf_do(struct rsv__sf *sf, const char *key, int (*fn)(void *ctx), void *ctx)
{
    struct sf_call *c;
    struct sf_call **pp;
    int rc;

    pthread_mutex_lock(&sf->mu);
    for (c = sf->calls; c; c = c->next) {
        if (strcmp(c->key, key) == 0)
            break;
    }
    if (c) {
        c->waiters++;
        while (!c->done)
            pthread_cond_wait(&sf->cv, &sf->mu);
        rc = c->result;
        if (--c->waiters == 0) {
            free(c->key);
            free(c);
        }
        pthread_mutex_unlock(&sf->mu);
        return rc;
    }
    c = xcalloc(1, sizeof(*c));
    c->key = xstrdup(key);
    c->waiters = 1;
    c->next = sf->calls;
    sf->calls = c;
    pthread_mutex_unlock(&sf->mu);

    rc = fn(ctx);

    pthread_mutex_lock(&sf->mu);
    c->result = rc;
    c->done = true;
    for (pp = &sf->calls; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_cond_broadcast(&sf->cv);
    if (--c->waiters == 0) {
        free(c->key);
        free(c);
    }
    pthread_mutex_unlock(&sf->mu);
    return rc;
}

int64_t rsv__now(void)
{
    return (int64_t)time(NULL);
}
