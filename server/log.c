/* log.c - timestamped log lines on stderr, one line per event, and the access log.
 *
 * Lines are gathered in memory and written in batches: one write per batch instead of one
 * per request, which on a busy daemon is most of what logging costs. A flusher thread
 * writes the batch every FLUSH_SECONDS; warnings and errors are written at once; a full
 * batch is handed to the flusher and a fresh one taken (two batches, swapped under a lock,
 * written outside it), so a request never waits for stderr unless both are full. ct_log_flush
 * writes what is left: main calls it after the drain, so SIGTERM and exit lose no line.
 *
 * A line is one event whatever a client sent: control bytes in it (a path's decoded %0a, a
 * name in a message) are written as \xNN, so no client can end a line early and forge the
 * next one. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define BATCH_BYTES (64 * 1024)
#define LINE_MAX_BYTES 2048
#define FLUSH_SECONDS 0.05

static enum ct_log_level current_level = CT_LOG_INFO;

void ct_log_set_level(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            current_level = (enum ct_log_level)i;
}

int ct_log_enabled(enum ct_log_level level) { return level <= current_level; }

/* ------------------------------------------------------------------ batches */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;          /* the flusher: a batch is ready, or time to look */
    pthread_cond_t written;       /* a writer finished: a batch is free again */
    char batch[2][BATCH_BYTES];
    size_t len[2];
    int filling;                  /* the batch lines go into; the other is free or being written */
    int writing;                  /* the other batch is being written */
    int flusher_started;
} out = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .written = PTHREAD_COND_INITIALIZER};

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, p, n);
        if (w <= 0)
            return; /* stderr closed or broken: nothing better to do with the lines */
        p += w;
        n -= (size_t)w;
    }
}

/* Writes the filling batch (the lock held on entry and on return; released meanwhile). */
static void write_filling(void)
{
    while (out.writing)
        pthread_cond_wait(&out.written, &out.lock);
    const int b = out.filling;
    if (!out.len[b])
        return;
    out.filling = 1 - b;
    out.writing = 1;
    pthread_mutex_unlock(&out.lock);
    write_all(out.batch[b], out.len[b]);
    pthread_mutex_lock(&out.lock);
    out.len[b] = 0;
    out.writing = 0;
    pthread_cond_broadcast(&out.written);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&out.lock);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(FLUSH_SECONDS * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&out.wake, &out.lock, &until);
        write_filling();
    }
    return NULL;
}

void ct_log_flush(void)
{
    pthread_mutex_lock(&out.lock);
    write_filling();
    pthread_mutex_unlock(&out.lock);
}

/* Appends one finished line; writes at once when urgent. */
static void emit(const char *line, size_t n, int urgent)
{
    pthread_mutex_lock(&out.lock);
    if (!out.flusher_started) {
        pthread_t t;
        out.flusher_started = pthread_create(&t, NULL, flusher_main, NULL) == 0 ? (pthread_detach(t), 1) : -1;
        if (out.flusher_started > 0)
            atexit(ct_log_flush);
    }
    if (out.len[out.filling] + n > BATCH_BYTES)
        write_filling(); /* waits only if the other batch is still being written */
    memcpy(out.batch[out.filling] + out.len[out.filling], line, n);
    out.len[out.filling] += n;
    if (urgent || out.flusher_started < 0)
        write_filling();
    pthread_mutex_unlock(&out.lock);
}

/* ------------------------------------------------------------------ lines */

/* "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL " into line; each thread formats the date part once a
 * second (its own copy: no lock on the way). */
static size_t stamp(char *line, enum ct_log_level level)
{
    static const char *const tags[] = {"ERROR ", "WARN ", "INFO ", "DEBUG "};
    static _Thread_local time_t second = -1;
    static _Thread_local char date[24]; /* "2026-12-03T13:25:23" */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        second = ts.tv_sec;
    }
    size_t n = strlen(date);
    memcpy(line, date, n);
    const long ms = ts.tv_nsec / 1000000;
    line[n++] = '.';
    line[n++] = (char)('0' + ms / 100);
    line[n++] = (char)('0' + ms / 10 % 10);
    line[n++] = (char)('0' + ms % 10);
    line[n++] = 'Z';
    line[n++] = ' ';
    const size_t t = strlen(tags[level]);
    memcpy(line + n, tags[level], t);
    return n + t;
}

/* Appends text to line at *n, control bytes and backslashes escaped, within cap (leaving
 * room for the newline). */
static void put_escaped(char *line, size_t *n, size_t cap, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len && *n + 5 < cap; i++) {
        const unsigned char ch = (unsigned char)text[i];
        if (ch < 0x20 || ch == 0x7f || ch == '\\') {
            line[(*n)++] = '\\';
            if (ch == '\\') {
                line[(*n)++] = '\\';
                continue;
            }
            line[(*n)++] = 'x';
            line[(*n)++] = hex[ch >> 4];
            line[(*n)++] = hex[ch & 15];
        } else {
            line[(*n)++] = (char)ch;
        }
    }
}

void ct_log(enum ct_log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char line[LINE_MAX_BYTES], text[1024];
    size_t n = stamp(line, level);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (m > (int)sizeof text - 1)
        m = (int)sizeof text - 1;
    put_escaped(line, &n, sizeof line, text, m > 0 ? (size_t)m : 0);
    line[n++] = '\n';
    emit(line, n, level <= CT_LOG_WARN);
}

static void put_text(char *line, size_t *n, const char *s)
{
    const size_t len = strlen(s);
    memcpy(line + *n, s, len);
    *n += len;
}

static void put_uint(char *line, size_t *n, unsigned long long v)
{
    char digits[24];
    int d = 0;
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (d)
        line[(*n)++] = digits[--d];
}

void ct_log_access(const ct_access_line *a)
{
    if (CT_LOG_INFO > current_level)
        return;
    char line[LINE_MAX_BYTES];
    size_t n = stamp(line, CT_LOG_INFO);
    put_text(line, &n, "access ");
    put_escaped(line, &n, 64, a->method, strlen(a->method)); /* methods are short */
    line[n++] = ' ';
    put_escaped(line, &n, n + 1100, a->path, strlen(a->path)); /* a path is at most 255 bytes, escaped 4x */
    line[n++] = ' ';
    put_uint(line, &n, (unsigned)a->status);
    put_text(line, &n, " in=");
    put_uint(line, &n, a->bytes_in);
    put_text(line, &n, " out=");
    put_uint(line, &n, a->bytes_out);
    put_text(line, &n, " ms=");
    const unsigned long long hundredths = a->seconds > 0 ? (unsigned long long)(a->seconds * 1e5 + 0.5) : 0;
    put_uint(line, &n, hundredths / 100);
    line[n++] = '.';
    line[n++] = (char)('0' + hundredths / 10 % 10);
    line[n++] = (char)('0' + hundredths % 10);
    put_text(line, &n, " id=");
    put_text(line, &n, a->request_id); /* ours or validated: [A-Za-z0-9._:-], at most 128 */
    if (a->trace_id[0]) {
        put_text(line, &n, " trace=");
        put_text(line, &n, a->trace_id); /* 32 hex digits */
    }
    if (a->aborted)
        put_text(line, &n, " (aborted)");
    line[n++] = '\n';
    emit(line, n, 0);
}
