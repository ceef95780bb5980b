/* log.h - leveled logging to stderr, one line per event, and the access log. */
#ifndef CT_SERVER_LOG_H
#define CT_SERVER_LOG_H

enum ct_log_level { CT_LOG_ERROR, CT_LOG_WARN, CT_LOG_INFO, CT_LOG_DEBUG };

void ct_log_set_level(const char *name);
void ct_log(enum ct_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* CT_SERVER_LOG_H */
