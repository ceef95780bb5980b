/* log.h - leveled logging to stderr, one line per event, and the access log. Lines are
 * written in batches (log.c); ct_log_flush writes what is pending. */
#ifndef CT_SERVER_LOG_H
#define CT_SERVER_LOG_H

#include <stddef.h>

enum ct_log_level { CT_LOG_ERROR, CT_LOG_WARN, CT_LOG_INFO, CT_LOG_DEBUG };

void ct_log_set_level(const char *name);
/* Whether lines of this level are written. */
int ct_log_enabled(enum ct_log_level level);
void ct_log(enum ct_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes the lines still gathered (also run at exit). */
void ct_log_flush(void);

/* One access log line: "access METHOD PATH STATUS in=N out=N ms=N.NN id=ID[ trace=T][ (aborted)]". */
typedef struct ct_access_line {
    const char *method, *path;
    int status;
    size_t bytes_in, bytes_out;
    double seconds;
    const char *request_id, *trace_id;
    int aborted;
} ct_access_line;
/* Writes it at info level, formatted without stdio; control bytes in the path escaped. */
void ct_log_access(const ct_access_line *a);

#endif /* CT_SERVER_LOG_H */
