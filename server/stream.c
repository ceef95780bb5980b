/* stream.c - a large JSON answer sent while it is written (see stream.h): a queue of
 * formatted chunks under a lock, filled by the worker and drained by libmicrohttpd's content
 * reader on the HTTP thread, which suspends the connection when the queue is empty. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "stream.h"

/* Numbers in the first chunk (out in well under a millisecond) and in every later one
 * (large enough that the lock and the resume cost nothing beside the formatting). */
#define FIRST_CHUNK_NUMBERS 16384
#define CHUNK_NUMBERS (1 << 18)
/* The buffer libmicrohttpd hands the reader: a few socket writes' worth. */
#define READER_BLOCK (128 * 1024)

typedef struct chunk {
    ct_buffer text;
    size_t sent;
    struct chunk *next;
} chunk;

struct ct_stream {
    pthread_mutex_t lock;
    int refs;
    chunk *first, *last;     /* formatted, not yet sent */
    int done;                /* the producer has queued its last chunk (or failed) */
    int failed;              /* ... having run out of memory: the answer is cut short */
    int waiting;             /* the reader found the queue empty and suspended the connection */
    int closed;              /* the response is gone: nobody reads what is produced */
    struct MHD_Connection *conn;
    size_t *bytes_out;
    float *data;             /* the numbers, freed once formatted */
    int64_t count;
    char tail[16];
    ct_buffer head;          /* sent first, by the producer */
    int compressed;          /* the text goes through deflater (Content-Encoding) */
    ct_deflater deflater;
};

ct_stream *ct_stream_create(struct MHD_Connection *conn, ct_pieces *head, float *data, int64_t count, const char *tail,
                            const char *coding)
{
    ct_stream *s = calloc(1, sizeof *s);
    if (!s || strlen(tail) >= sizeof s->tail || (coding && ct_deflater_start(&s->deflater, coding) != 0)) {
        free(s);
        return NULL;
    }
    s->compressed = coding != NULL;
    if (ct_pieces_join(head, &s->head) != 0) {
        if (s->compressed)
            ct_deflater_end(&s->deflater);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->refs = 1;
    s->conn = conn;
    s->data = data;
    s->count = count;
    strcpy(s->tail, tail);
    return s;
}

ct_stream *ct_stream_ref(ct_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->refs++;
    pthread_mutex_unlock(&s->lock);
    return s;
}

void ct_stream_release(ct_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last)
        return;
    for (chunk *c = s->first, *next; c; c = next) {
        next = c->next;
        ct_buffer_free(&c->text);
        free(c);
    }
    free(s->data);
    ct_buffer_free(&s->head);
    if (s->compressed)
        ct_deflater_end(&s->deflater);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Queues text (taken; NULL: none) and, with end, marks the stream done, failed when text
 * could not be made; wakes the reader if it waits. Returns 0, or -1 once nobody reads. */
static int hand_over(ct_stream *s, ct_buffer *text, int end, int failed)
{
    chunk *c = text ? malloc(sizeof *c) : NULL;
    if (text && !c) {
        ct_buffer_free(text);
        end = failed = 1;
    }
    pthread_mutex_lock(&s->lock);
    if (c) {
        *c = (chunk){*text, 0, NULL};
        *text = (ct_buffer){0};
        if (s->last)
            s->last->next = c;
        else
            s->first = c;
        s->last = c;
    }
    s->done |= end;
    s->failed |= failed;
    if (s->waiting) { /* suspended by the reader, so the connection is still there */
        s->waiting = 0;
        MHD_resume_connection(s->conn);
    }
    int closed = s->closed;
    pthread_mutex_unlock(&s->lock);
    return closed ? -1 : 0;
}

/* Hands text (taken) over as it is, or compressed (what zlib gives back so far, all of it
 * with last). 0, or -1 when nobody reads any more or it failed (the stream then ends). */
static int send_text(ct_stream *s, ct_buffer *text, int last)
{
    if (s->compressed) {
        ct_buffer packed = {0};
        int rc = ct_deflater_feed(&s->deflater, text->data, text->len, last, &packed);
        ct_buffer_free(text);
        if (rc != 0) {
            ct_buffer_free(&packed);
            hand_over(s, NULL, 1, 1);
            return -1;
        }
        *text = packed;
    }
    if (text->len == 0 && !last) { /* zlib kept it all for now */
        ct_buffer_free(text);
        return 0;
    }
    return hand_over(s, text, last, 0);
}

/* Formats the numbers chunk after chunk (the head before them, the tail after), handing
 * each over as it is done. 0, or -1 when it stopped early. */
static int produce_chunks(ct_stream *s)
{
    if (send_text(s, &s->head, 0) != 0)
        return -1;
    int64_t next = 0;
    for (int64_t n = FIRST_CHUNK_NUMBERS; next < s->count || next == 0; n = CHUNK_NUMBERS) {
        if (n > s->count - next)
            n = s->count - next;
        ct_pieces text = {0};
        ct_buffer joined = {0};
        int64_t nonfinite;
        /* chunks after the first start with the comma that separates them from the last */
        int rc = (next > 0 && ct_pieces_append(&text, ",", 1) != 0) || ct_json_append_numbers(&text, s->data + next, n, &nonfinite, 1) != 0 ||
                 ct_pieces_join(&text, &joined) != 0;
        next += n;
        if (!rc && next == s->count)
            rc = ct_buffer_append(&joined, s->tail, strlen(s->tail)) != 0;
        if (rc) {
            ct_pieces_free(&text);
            ct_buffer_free(&joined);
            hand_over(s, NULL, 1, 1);
            return -1;
        }
        if (send_text(s, &joined, next == s->count) != 0)
            return -1; /* the client is gone, or out of memory */
        if (next == s->count)
            return 0;
    }
    return 0;
}

void ct_stream_produce(ct_stream *s)
{
    produce_chunks(s);
    free(s->data); /* only the producer reads it */
    s->data = NULL;
}

/* libmicrohttpd's content reader, on the HTTP thread: what is queued, the end, or (nothing
 * queued yet) a suspended connection that the producer resumes. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ct_stream *s = cls;
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    while (n < max && s->first) {
        chunk *c = s->first;
        size_t take = c->text.len - c->sent < max - n ? c->text.len - c->sent : max - n;
        memcpy(buf + n, c->text.data + c->sent, take);
        n += take;
        c->sent += take;
        if (c->sent == c->text.len) {
            s->first = c->next;
            if (!s->first)
                s->last = NULL;
            ct_buffer_free(&c->text);
            free(c);
        }
    }
    ssize_t ret = (ssize_t)n;
    if (n == 0 && s->done)
        ret = s->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    else if (n == 0) {
        s->waiting = 1;
        MHD_suspend_connection(s->conn);
    }
    if (n > 0 && s->bytes_out)
        *s->bytes_out += n;
    pthread_mutex_unlock(&s->lock);
    return ret;
}

/* The response is destroyed (sent, or its connection closed): the producer stops. */
static void response_gone(void *cls)
{
    ct_stream *s = cls;
    pthread_mutex_lock(&s->lock);
    s->closed = 1;
    s->bytes_out = NULL;
    pthread_mutex_unlock(&s->lock);
    ct_stream_release(s);
}

struct MHD_Response *ct_stream_response(ct_stream *s, size_t *bytes_out)
{
    ct_stream_ref(s);
    s->bytes_out = bytes_out;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READER_BLOCK, read_stream, s, response_gone);
    if (!resp)
        ct_stream_release(s);
    return resp;
}
