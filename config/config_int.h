/*
 * config_int.h - private to the .c files of config/ (and its unit tests).
 */
#ifndef IMX_CONFIG_INT_H
#define IMX_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The built-in conservative PEP 508 marker check used when
 * config_opts.check_marker is NULL: balanced parentheses and quotes, known
 * variable names, comparison operators, and/or. Returns 0 or IMX_ESYNTAX
 * with a short reason in err. *uses_extra tells whether the variable
 * `extra` occurs (set in both cases).
 */
int config__check_marker(const char *marker, bool *uses_extra /* OUT */, char *err, size_t errlen);

#endif
