/*
 * log.c - formatting and writing of log lines; see log.h.
 *
 * The settings below are the documented exception to "no mutable globals":
 * written once by log_setup() before threads start, read-only afterwards.
 */
#include "compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static enum log_level g_level = LOG_LEVEL_INFO;
static enum log_format g_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format format)
{
    g_level = level;
    g_format = format;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return IMX_EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0) {
        *out = LOG_FORMAT_TEXT;
        return 0;
    }
    if (strcmp(s, "json") == 0) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return IMX_EINVAL;
}

bool log_enabled(enum log_level level)
{
    return level <= g_level;
}

enum log_format log_get_format(void)
{
    return g_format;
}

void log_json_escape(const char *s, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return;
    for (; *s && o + 7 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void timestamp(char *out, size_t outlen)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void emit(enum log_level level, const char *msg, const char *json_fields)
{
    char ts[32];
    char line[8192];
    char esc[6144];
    int n;

    timestamp(ts, sizeof(ts));
    if (g_format == LOG_FORMAT_JSON) {
        if (json_fields) {
            n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",%s}\n", ts,
                         level_names[level], json_fields);
        } else {
            log_json_escape(msg, esc, sizeof(esc));
            n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
                         ts, level_names[level], esc);
        }
    } else {
        n = snprintf(line, sizeof(line), "%s %s %s\n", ts, level_names[level], msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    /* One write per line: lines from several threads never interleave. */
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

static void vlog(enum log_level level, bool with_errno, const char *fmt, va_list ap)
{
    char msg[4096];
    int saved = errno;
    int n;

    if (!log_enabled(level))
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    if (with_errno && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved));
    emit(level, msg, NULL);
    errno = saved;
}

void log_record(enum log_level level, const char *text, const char *json_fields)
{
    if (!log_enabled(level))
        return;
    emit(level, text, json_fields);
}

#define DEFINE_LOG(name, level, with_errno)                                     \
    void name(const char *fmt, ...)                                             \
    {                                                                           \
        va_list ap;                                                             \
        va_start(ap, fmt);                                                      \
        vlog(level, with_errno, fmt, ap);                                       \
        va_end(ap);                                                             \
    }

DEFINE_LOG(log_error, LOG_LEVEL_ERROR, true)
DEFINE_LOG(log_errorx, LOG_LEVEL_ERROR, false)
DEFINE_LOG(log_warn, LOG_LEVEL_WARN, true)
DEFINE_LOG(log_warnx, LOG_LEVEL_WARN, false)
DEFINE_LOG(log_info, LOG_LEVEL_INFO, false)
DEFINE_LOG(log_debug, LOG_LEVEL_DEBUG, false)
