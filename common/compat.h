/*
 * compat.h - first include of every indexmux .c file.
 *
 * Feature macros, the standard headers every file wants, and the small
 * assertion vocabulary (habit 10): CHECK_OBJ for tagged long-lived objects,
 * ALWAYS/NEVER for defensive branches tests cannot reach.
 */
#ifndef IMX_COMPAT_H
#define IMX_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define UNUSED(x) ((void)(x))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Tagged objects: a struct with `unsigned magic` as a member. */
#define INIT_OBJ(o, m) ((o)->magic = (m))
#define CHECK_OBJ(o, m) assert((o) != NULL && (o)->magic == (m))
#define FINI_OBJ(o) ((o)->magic = 0)

/* Defensive branches: loud in debug builds, harmless in release builds. */
#ifdef NDEBUG
#define ALWAYS(x) (x)
#define NEVER(x) (x)
#else
#define ALWAYS(x) ((x) ? 1 : (assert(0), 0))
#define NEVER(x) ((x) ? (assert(0), 1) : 0)
#endif

#include "banned.h"

#endif
