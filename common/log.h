/*
 * log.h - one voice for every message indexmux prints (habit 13).
 *
 * Messages are lower-case, without a trailing period, say what failed
 * first and quote the subject: log_warn("cannot open '%s'", path). The
 * _errno variants (log_warn, log_error) append strerror(errno).
 *
 * Lines go to stderr, one per call, written with a single write(2) so
 * concurrent threads never interleave within a line. Text format:
 *   2026-11-29T21:14:11Z warn cannot open 'x': No such file or directory
 * JSON format: {"ts":"...","level":"warn","msg":"..."}
 *
 * The log settings are the one piece of process-wide state: log_setup() is
 * called once by main() before any thread starts and never again while
 * threads run (SIGHUP reload does not change them). Everything else is
 * passed explicitly.
 */
#ifndef IMX_LOG_H
#define IMX_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

void log_setup(enum log_level level, enum log_format format);
/* Parse "error|warn|info|debug" and "text|json"; 0 or IMX_EINVAL. */
int log_level_parse(const char *s, enum log_level *out /* OUT */);
int log_format_parse(const char *s, enum log_format *out /* OUT */);
bool log_enabled(enum log_level level);
enum log_format log_get_format(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* + strerror */
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* + strerror */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A pre-formatted record (the access log): in text format `text` is
 * printed as is; in JSON format `json_fields` (a comma-separated list of
 * already-escaped "key":value pairs) is wrapped with ts and level.
 */
void log_record(enum log_level level, const char *text, const char *json_fields);
/* Escape s for use inside a JSON string into out (capped; truncates). */
void log_json_escape(const char *s, char *out, size_t outlen);

#endif
