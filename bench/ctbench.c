/* ctbench.c - the compute benchmark: runs each layer of a suite file (format in the header
 * of ../shared/bench/suite.tsv) through a plan and prints one TSV line per layer:
 * name, median milliseconds per run, GFLOP/s by the suite's nominal FLOP count.
 *
 *   ctbench FILE.tsv [--threads N] [--min-time SECONDS] [--only NAME[,NAME]]
 *
 * Weights are packed once (as for a registered layer), outside the timed loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convtranspose.h"

typedef struct bench_row {
    char name[64];
    int64_t batch, cin, cout, groups;
    int nd;
    int64_t input[3], kernel[3], stride[3], padding[3], output_padding[3], dilation[3];
} bench_row;

static double now(void)
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
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

static int bench_one(const bench_row *r, int threads, double min_time)
{
    ct_params p;
    ct_params_init(&p, r->nd);
    p.groups = r->groups;
    ct_shape xs = {r->nd + 2, {r->batch, r->cin}}, ws = {r->nd + 2, {r->cin, r->cout / r->groups}}, os;
    double flop = 2.0 * (double)r->batch * (double)r->cin * (double)(r->cout / r->groups);
    for (int d = 0; d < r->nd; d++) {
        p.stride[d] = r->stride[d];
        p.dilation[d] = r->dilation[d];
        p.pads_begin[d] = p.pads_end[d] = r->padding[d];
        p.output_padding[d] = r->output_padding[d];
        xs.dims[2 + d] = r->input[d];
        ws.dims[2 + d] = r->kernel[d];
        flop *= (double)(r->input[d] * r->kernel[d]);
    }
    int64_t nx = ct_shape_elements(&xs), nw = ct_shape_elements(&ws);
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    for (int64_t i = 0; i < nx; i++)
        x[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)((i * 104729) % 2001 - 1000) / 1000.0f;
    char msg[256];
    ct_plan *plan;
    if (ct_plan_create(&p, &ws, w, NULL, 0, &plan, msg, sizeof msg) != CT_OK ||
        ct_plan_output_shape(plan, &xs, &os, msg, sizeof msg) != CT_OK) {
        fprintf(stderr, "ctbench: %s: %s\n", r->name, msg);
        return 1;
    }
    float *y = malloc(sizeof(float) * (size_t)ct_shape_elements(&os));
    ct_plan_run(plan, &xs, x, y, threads, msg, sizeof msg); /* warm-up */
    enum { MAX_SAMPLES = 100000 };
    static double samples[MAX_SAMPLES];
    int n = 0;
    double start = now();
    while (n < MAX_SAMPLES && (n < 3 || now() - start < min_time)) {
        double t0 = now();
        ct_plan_run(plan, &xs, x, y, threads, msg, sizeof msg);
        samples[n++] = now() - t0;
    }
    qsort(samples, (size_t)n, sizeof samples[0], cmp_double);
    double median = samples[n / 2];
    printf("%s\t%.4f\t%.1f\n", r->name, median * 1e3, flop / median * 1e-9);
    fprintf(stderr, "  %s: %s, %d runs\n", r->name, ct_plan_algorithm(plan), n);
    fflush(stdout);
    ct_plan_destroy(plan);
    free(x);
    free(w);
    free(y);
    return 0;
}

int main(int argc, char **argv)
{
    const char *file = NULL, *only = NULL;
    int threads = 2;
    double min_time = 0.5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else {
            fprintf(stderr, "usage: ctbench FILE.tsv [--threads N] [--min-time S] [--only NAME[,NAME]]\n");
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "usage: ctbench FILE.tsv [--threads N] [--min-time S] [--only NAME[,NAME]]\n");
        return 2;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return 2;
    }
    fprintf(stderr, "ctbench: isa %s, %d threads\n", ct_cpu_isa(), threads);
    printf("name\tmedian_ms\tgflops\n");
    char line[1024];
    int failures = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        bench_row r;
        if (!parse_row(line, &r)) {
            fprintf(stderr, "ctbench: cannot parse: %s", line);
            failures++;
            continue;
        }
        if (selected(r.name, only))
            failures += bench_one(&r, threads, min_time);
    }
    fclose(f);
    return failures ? 1 : 0;
}
