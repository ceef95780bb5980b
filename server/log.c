/* log.c - timestamped log lines on stderr; a line is written with one call, so lines from
 * different threads do not interleave. A line is one event whatever a client sent: control
 * bytes in it (a path's decoded %0a, a name in a message) are written as \xNN, so no client
 * can end a line early and forge the next one. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum ct_log_level current_level = CT_LOG_INFO;

void ct_log_set_level(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            current_level = (enum ct_log_level)i;
}

void ct_log(enum ct_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (level > current_level)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ %s ", ts.tv_nsec / 1000000, tags[level]);
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; m > 0 && i < m && i < (int)sizeof text - 1 && n < (int)sizeof line - 5; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch < 0x20 || ch == 0x7f || ch == '\\') {
            line[n++] = '\\';
            if (ch == '\\') {
                line[n++] = '\\';
                continue;
            }
            line[n++] = 'x';
            line[n++] = hex[ch >> 4];
            line[n++] = hex[ch & 15];
        } else {
            line[n++] = (char)ch;
        }
    }
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}
