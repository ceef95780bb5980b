/* fma_peak.c - the machine's FMA peak, the figure the kernels' GFLOP/s are read against:
 * every thread runs 16 independent chains of fused multiply-adds on the widest vectors the
 * CPU has (AVX-512: 16 floats, else AVX2: 8) and nothing else. Prints GFLOP/s on 1 and on
 * all threads, best of 5 half-second runs.
 *   make build/ctfmapeak && build/ctfmapeak */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

enum { CHAINS = 16 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* iters steps of CHAINS FMAs of 16 floats; returns a sum so that nothing is left out. */
__attribute__((target("avx512f,fma"))) static float chains16(long iters)
{
    __m512 acc[CHAINS];
    const __m512 m = _mm512_set1_ps(0.9999999f), a = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < CHAINS; j++)
        acc[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 16 /* every chain in a register, none through memory */
        for (int j = 0; j < CHAINS; j++)
            acc[j] = _mm512_fmadd_ps(acc[j], m, a);
    float sum = 0;
    for (int j = 0; j < CHAINS; j++)
        sum += _mm512_reduce_add_ps(acc[j]);
    return sum;
}

__attribute__((target("avx2,fma"))) static float chains8(long iters)
{
    __m256 acc[CHAINS];
    const __m256 m = _mm256_set1_ps(0.9999999f), a = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < CHAINS; j++)
        acc[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 16
        for (int j = 0; j < CHAINS; j++)
            acc[j] = _mm256_fmadd_ps(acc[j], m, a);
    float lanes[8], sum = 0;
    for (int j = 0; j < CHAINS; j++) {
        _mm256_storeu_ps(lanes, acc[j]);
        for (int k = 0; k < 8; k++)
            sum += lanes[k];
    }
    return sum;
}

/* GFLOP/s of `threads` threads each running the chains for about half a second. */
static double measure(int wide, int threads)
{
    const long iters = wide ? 20000000 : 40000000;
    volatile float sink = 0;
    double t0 = now();
#pragma omp parallel num_threads(threads)
    {
        float s = wide ? chains16(iters) : chains8(iters);
#pragma omp atomic
        sink += s;
    }
    double secs = now() - t0;
    return (double)threads * (double)iters * CHAINS * (wide ? 16 : 8) * 2 / secs * 1e-9;
}

int main(void)
{
    __builtin_cpu_init();
    const int wide = __builtin_cpu_supports("avx512f");
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        printf("fma peak: neither AVX-512 nor AVX2 + FMA on this CPU\n");
        return 1;
    }
    const int all = omp_get_num_procs();
    for (int threads = 1; threads <= all; threads += all > 1 ? all - 1 : 1) {
        double best = 0;
        for (int round = 0; round < 5; round++) {
            double g = measure(wide, threads);
            best = g > best ? g : best;
        }
        printf("fma peak, %s, %d thread%s: %.1f GFLOP/s\n", wide ? "16-float vectors (AVX-512)" : "8-float vectors (AVX2)", threads,
               threads > 1 ? "s" : "", best);
    }
    return 0;
}
