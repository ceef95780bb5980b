/* float_exhaustive.c - `build/ctfloatcheck [STEP]`: the JSON float formatter against every
 * finite float32 (every STEP-th bit pattern when STEP > 1), on all cores:
 *   - what ct_format_float writes reads back (strtof) as exactly the same bits;
 *   - no decimal with fewer significant digits reads back (fewer_digits_read_back: glibc's
 *     exact %e and strtof, an algorithm independent of the formatter's).
 * Prints the counts and exits 1 on any failure. About 15 minutes for all 2^32 on 2 cores. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Significant digits of the decimal in s ("-1.25e-7", "0.0031", "120"). */
static int significant_digits(const char *s)
{
    int n = 0, started = 0, trailing_zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (*s != '0')
            started = 1;
        if (!started)
            continue;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return n - trailing_zeros;
}

/* Whether a decimal of fewer than p significant digits reads back as v (> 0, p >= 2). The
 * interval that reads back as v holds v, so if any (p-1)-digit decimal is in it, one of the
 * two that bracket v is: the nearest (glibc's %.*e, exact) and its neighbour on v's other
 * side, which below a power of ten is the top of the decade under it. Fewer digits are
 * (p-1)-digit decimals too. */
static int fewer_digits_read_back(float v, int p)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.*e", p - 2, (double)v);
    if (strtof(buf, NULL) == v)
        return 1;
    long long digits = 0;
    int exp10 = 0;
    for (const char *c = buf; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            digits = digits * 10 + (*c - '0');
    exp10 = atoi(strchr(buf, 'e') + 1) - (p - 2); /* nearest = digits * 10^exp10 */
    long long lowest = 1;
    for (int i = 0; i < p - 2; i++)
        lowest *= 10;
    const long long other = strtod(buf, NULL) > (double)v ? digits - 1 : digits + 1;
    snprintf(buf, sizeof buf, "%llde%d", other, exp10);
    if (strtof(buf, NULL) == v)
        return 1;
    if (other < lowest) { /* under a power of ten the grid is ten times finer */
        snprintf(buf, sizeof buf, "%llde%d", lowest * 10 - 1, exp10 - 1);
        if (strtof(buf, NULL) == v)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const uint64_t step = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    long long checked = 0, not_exact = 0, longer = 0;
    double t0 = omp_get_wtime();
#pragma omp parallel for schedule(dynamic, 1 << 16) reduction(+ : checked, not_exact, longer)
    for (uint64_t i = 0; i < (1ull << 32); i += step) {
        uint32_t bits = (uint32_t)i;
        float v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v))
            continue;
        char out[32];
        out[ct_format_float(v, out)] = '\0';
        checked++;
        float back = strtof(out, NULL);
        uint32_t back_bits;
        memcpy(&back_bits, &back, sizeof back_bits);
        if (back_bits != bits) {
            if (not_exact++ < 10)
                fprintf(stderr, "0x%08x: wrote %s, which reads back as 0x%08x\n", bits, out, back_bits);
            continue;
        }
        if (v == 0.0f)
            continue;
        const int ours = significant_digits(out);
        if (ours >= 2 && fewer_digits_read_back(fabsf(v), ours) && longer++ < 10)
            fprintf(stderr, "0x%08x: wrote %s (%d digits); fewer read back\n", bits, out, ours);
    }
    printf("%lld floats in %.0f s: %lld not read back exactly, %lld not the shortest\n", checked, omp_get_wtime() - t0, not_exact, longer);
    return not_exact || longer ? 1 : 0;
}
