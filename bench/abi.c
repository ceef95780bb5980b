/* abi.c - an A/B of two builds of the compute library that this noisy host can resolve to
 * about 1%: both builds are loaded into one process (dlopen, each with its own symbols) and
 * their runs alternate, so a drift of the host's speed hits both alike. Per round each build
 * runs a layer 3 times, in alternating order, and keeps its best; the round's ratio is
 * best(A) / best(B). Prints per layer the median ratio and its quartiles: below 1 means A is
 * faster.
 *
 *   ctabi LIB_A.so LIB_B.so FILE.tsv [--only NAME[,NAME]] [--rounds N] [--threads N]
 *
 * bench/abi.sh builds the two libraries from git revisions. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"

/* The library's entry points, resolved from one loaded build. */
typedef struct build {
    void *handle;
    ct_status (*plan_create)(const ct_params *, const ct_shape *, const float *, const float *, int64_t,
                             ct_plan **, char *, size_t);
    ct_status (*plan_output_shape)(const ct_plan *, const ct_shape *, ct_shape *, char *, size_t);
    ct_status (*plan_run)(const ct_plan *, const ct_shape *, const float *, float *, int, char *, size_t);
    void (*plan_destroy)(ct_plan *);
} build;

typedef struct abi_opts {
    build lib[2];
    int rounds, threads;
} abi_opts;

static int load(const char *path, build *b)
{
    b->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!b->handle) {
        fprintf(stderr, "ctabi: %s\n", dlerror());
        return 0;
    }
    *(void **)&b->plan_create = dlsym(b->handle, "ct_plan_create");
    *(void **)&b->plan_output_shape = dlsym(b->handle, "ct_plan_output_shape");
    *(void **)&b->plan_run = dlsym(b->handle, "ct_plan_run");
    *(void **)&b->plan_destroy = dlsym(b->handle, "ct_plan_destroy");
    if (!b->plan_create || !b->plan_output_shape || !b->plan_run || !b->plan_destroy) {
        fprintf(stderr, "ctabi: %s lacks the ct_plan entry points\n", path);
        return 0;
    }
    return 1;
}

static int compare_layer(const bench_row *r, void *ctx)
{
    abi_opts *o = ctx;
    ct_params p;
    ct_shape xs, ws, os;
    suite_layer(r, &p, &xs, &ws);
    float *x, *w;
    suite_data(&xs, &ws, &x, &w);
    char msg[256];
    ct_plan *plan[2] = {NULL, NULL};
    float *y = NULL;
    double *ratios = calloc((size_t)o->rounds, sizeof *ratios);
    int failed = 0;
    for (int s = 0; s < 2 && !failed; s++)
        failed = o->lib[s].plan_create(&p, &ws, w, NULL, 0, &plan[s], msg, sizeof msg) != CT_OK;
    if (!failed && o->lib[0].plan_output_shape(plan[0], &xs, &os, msg, sizeof msg) == CT_OK &&
        (y = suite_tensor(ct_shape_elements(&os)))) {
        for (int s = 0; s < 2; s++) /* warm-up */
            o->lib[s].plan_run(plan[s], &xs, x, y, o->threads, msg, sizeof msg);
        for (int round = 0; round < o->rounds; round++) {
            double best[2] = {1e30, 1e30};
            for (int rep = 0; rep < 6; rep++) {
                const int s = (rep + round) % 2;
                const double t0 = suite_now();
                o->lib[s].plan_run(plan[s], &xs, x, y, o->threads, msg, sizeof msg);
                const double t = suite_now() - t0;
                best[s] = t < best[s] ? t : best[s];
            }
            ratios[round] = best[0] / best[1];
        }
        qsort(ratios, (size_t)o->rounds, sizeof *ratios, suite_cmp_double);
        printf("%s\t%.3f\t%.3f\t%.3f\n", r->name, ratios[o->rounds / 2], ratios[o->rounds / 4],
               ratios[3 * o->rounds / 4]);
        fflush(stdout);
    } else {
        failed = 1;
        fprintf(stderr, "ctabi: %s: %s\n", r->name, msg);
    }
    for (int s = 0; s < 2; s++)
        if (plan[s])
            o->lib[s].plan_destroy(plan[s]);
    free(ratios);
    free(x);
    free(w);
    free(y);
    return failed;
}

int main(int argc, char **argv)
{
    const char *paths[3] = {NULL, NULL, NULL}, *only = NULL;
    int npaths = 0;
    abi_opts o = {.rounds = 20, .threads = 2};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            o.rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            o.threads = atoi(argv[++i]);
        else if (argv[i][0] != '-' && npaths < 3)
            paths[npaths++] = argv[i];
        else
            npaths = 4;
    }
    if (npaths != 3 || o.rounds < 1) {
        fprintf(stderr, "usage: ctabi LIB_A.so LIB_B.so FILE.tsv [--only NAME[,NAME]] [--rounds N] [--threads N]\n");
        return 2;
    }
    if (!load(paths[0], &o.lib[0]) || !load(paths[1], &o.lib[1]))
        return 2;
    printf("name\tA/B median\tq1\tq3\n");
    int failures = suite_for_each(paths[2], only, compare_layer, &o);
    return failures < 0 ? 2 : failures ? 1 : 0;
}
