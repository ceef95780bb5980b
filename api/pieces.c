/* pieces.c - a body kept as the buffers that made it (a JSON head, the encoder's parallel
 * slices, a tensor), so that it is sent as it is instead of joined into one copy first. */
#include <stdlib.h>
#include <string.h>

#include "api.h"

int ct_pieces_take(ct_pieces *p, ct_buffer *b)
{
    if (p->count == p->cap) {
        int cap = p->cap ? 2 * p->cap : 4;
        ct_buffer *part = realloc(p->part, (size_t)cap * sizeof *part);
        if (!part)
            return -1;
        p->part = part;
        p->cap = cap;
    }
    p->part[p->count++] = *b;
    *b = (ct_buffer){0};
    return 0;
}

ct_buffer *ct_pieces_last(ct_pieces *p)
{
    ct_buffer empty = {0};
    if (p->count == 0 && ct_pieces_take(p, &empty) != 0)
        return NULL;
    return &p->part[p->count - 1];
}

int ct_pieces_append(ct_pieces *p, const void *data, size_t len)
{
    ct_buffer *last = ct_pieces_last(p);
    return last ? ct_buffer_append(last, data, len) : -1;
}

size_t ct_pieces_len(const ct_pieces *p)
{
    size_t len = 0;
    for (int i = 0; i < p->count; i++)
        len += p->part[i].len;
    return len;
}

int ct_pieces_join(ct_pieces *p, ct_buffer *out)
{
    if (p->count == 1 && !out->data) { /* nothing to copy */
        *out = p->part[0];
        p->count = 0;
    } else {
        if (ct_buffer_reserve(out, ct_pieces_len(p) + 1) != 0)
            return -1;
        for (int i = 0; i < p->count; i++)
            ct_buffer_append(out, p->part[i].data, p->part[i].len);
    }
    ct_pieces_free(p);
    return 0;
}

void ct_pieces_free(ct_pieces *p)
{
    for (int i = 0; i < p->count; i++)
        ct_buffer_free(&p->part[i]);
    free(p->part);
    *p = (ct_pieces){0};
}
