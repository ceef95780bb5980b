/* suite.c - reads the benchmark suite's rows into layers (see suite.h). */
#include "suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double suite_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Parses "64x64" into v; returns the count (0 on error). */
static int parse_dims(const char *s, int64_t v[3])
{
    int n = 0;
    char *end;
    while (n < 3) {
        v[n++] = strtoll(s, &end, 10);
        if (end == s)
            return 0;
        if (*end != 'x')
            break;
        s = end + 1;
    }
    return n;
}

static int parse_row(char *line, bench_row *r)
{
    char *col[11];
    int n = 0;
    for (char *tok = strtok(line, "\t\n"); tok && n < 11; tok = strtok(NULL, "\t\n"))
        col[n++] = tok;
    if (n != 11)
        return 0;
    snprintf(r->name, sizeof r->name, "%s", col[0]);
    r->batch = atoll(col[1]);
    r->cin = atoll(col[2]);
    r->cout = atoll(col[3]);
    r->groups = atoll(col[4]);
    r->nd = parse_dims(col[5], r->input);
    int64_t *fields[] = {r->kernel, r->stride, r->padding, r->output_padding, r->dilation};
    for (int i = 0; i < 5; i++)
        if (parse_dims(col[6 + i], fields[i]) != r->nd)
            return 0;
    return r->nd > 0;
}

static int selected(const char *name, const char *only)
{
    if (!only)
        return 1;
    size_t len = strlen(name);
    for (const char *p = only; (p = strstr(p, name)); p += len)
        if ((p == only || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
            return 1;
    return 0;
}

double suite_layer(const bench_row *r, ct_params *p, ct_shape *xs, ct_shape *ws)
{
    ct_params_init(p, r->nd);
    p->groups = r->groups;
    *xs = (ct_shape){r->nd + 2, {r->batch, r->cin}};
    *ws = (ct_shape){r->nd + 2, {r->cin, r->cout / r->groups}};
    double flop = 2.0 * (double)r->batch * (double)r->cin * (double)(r->cout / r->groups);
    for (int d = 0; d < r->nd; d++) {
        p->stride[d] = r->stride[d];
        p->dilation[d] = r->dilation[d];
        p->pads_begin[d] = p->pads_end[d] = r->padding[d];
        p->output_padding[d] = r->output_padding[d];
        xs->dims[2 + d] = r->input[d];
        ws->dims[2 + d] = r->kernel[d];
        flop *= (double)(r->input[d] * r->kernel[d]);
    }
    return flop;
}

float *suite_tensor(int64_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, sizeof(float) * (size_t)(n > 0 ? n : 1)) == 0 ? p : NULL;
}

void suite_data(const ct_shape *xs, const ct_shape *ws, float **x, float **w)
{
    int64_t nx = ct_shape_elements(xs), nw = ct_shape_elements(ws);
    *x = suite_tensor(nx);
    *w = suite_tensor(nw);
    for (int64_t i = 0; i < nx; i++)
        (*x)[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
    for (int64_t i = 0; i < nw; i++)
        (*w)[i] = (float)((i * 104729) % 2001 - 1000) / 1000.0f;
}

int suite_for_each(const char *file, const char *only, int (*fn)(const bench_row *r, void *ctx), void *ctx)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return -1;
    }
    char line[1024];
    int failures = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        bench_row r;
        if (!parse_row(line, &r)) {
            fprintf(stderr, "cannot parse: %s", line);
            failures++;
            continue;
        }
        if (selected(r.name, only))
            failures += fn(&r, ctx) != 0;
    }
    fclose(f);
    return failures;
}

int suite_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
