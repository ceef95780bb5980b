/* ctbench.c - the compute benchmark: runs each layer of a suite file (format in the header
 * of ../shared/bench/suite.tsv) through a plan and prints one TSV line per layer:
 * name, median milliseconds per run, GFLOP/s by the suite's nominal FLOP count.
 *
 *   ctbench FILE.tsv [--threads N] [--min-time SECONDS] [--only NAME[,NAME]] [--weights float16|bfloat16]
 *
 * Weights are packed once (as for a registered layer), outside the timed loop; --weights
 * keeps them as 16-bit values (ct_plan_create_stored), as a registered layer uploaded in
 * that type does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"

typedef struct bench_opts {
    int threads;
    double min_time;
    ct_weight_storage storage;
} bench_opts;

static int bench_one(const bench_row *r, void *ctx)
{
    const int threads = ((const bench_opts *)ctx)->threads;
    const double min_time = ((const bench_opts *)ctx)->min_time;
    ct_params p;
    ct_shape xs, ws, os;
    double flop = suite_layer(r, &p, &xs, &ws);
    float *x, *w;
    suite_data(&xs, &ws, &x, &w);
    char msg[256];
    ct_plan *plan;
    if (ct_plan_create_stored(&p, &ws, w, NULL, 0, ((const bench_opts *)ctx)->storage, &plan, msg, sizeof msg) != CT_OK ||
        ct_plan_output_shape(plan, &xs, &os, msg, sizeof msg) != CT_OK) {
        fprintf(stderr, "ctbench: %s: %s\n", r->name, msg);
        return 1;
    }
    float *y = suite_tensor(ct_shape_elements(&os));
    ct_plan_run(plan, &xs, x, y, threads, msg, sizeof msg); /* warm-up */
    enum { MAX_SAMPLES = 100000 };
    static double samples[MAX_SAMPLES];
    int n = 0;
    double start = suite_now();
    while (n < MAX_SAMPLES && (n < 3 || suite_now() - start < min_time)) {
        double t0 = suite_now();
        ct_plan_run(plan, &xs, x, y, threads, msg, sizeof msg);
        samples[n++] = suite_now() - t0;
    }
    qsort(samples, (size_t)n, sizeof samples[0], suite_cmp_double);
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
    ct_weight_storage storage = CT_WEIGHTS_FLOAT32;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) {
            i++;
            storage = strcmp(argv[i], "float16") == 0 ? CT_WEIGHTS_FLOAT16 : strcmp(argv[i], "bfloat16") == 0 ? CT_WEIGHTS_BFLOAT16 : CT_WEIGHTS_FLOAT32;
        } else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else {
            fprintf(stderr, "usage: ctbench FILE.tsv [--threads N] [--min-time S] [--only NAME[,NAME]] [--weights float16|bfloat16]\n");
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "usage: ctbench FILE.tsv [--threads N] [--min-time S] [--only NAME[,NAME]] [--weights float16|bfloat16]\n");
        return 2;
    }
    fprintf(stderr, "ctbench: isa %s, %d threads\n", ct_cpu_isa(), threads);
    printf("name\tmedian_ms\tgflops\n");
    bench_opts opts = {threads, min_time, storage};
    int failures = suite_for_each(file, only, bench_one, &opts);
    return failures < 0 ? 2 : failures ? 1 : 0;
}
