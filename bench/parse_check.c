/* parse_check.c - `build/ctparsecheck [ROUNDS]`: the JSON number parser against strtof on
 * ROUNDS x 1M random decimal strings (default 20), read through the request parser as one
 * tensor each round: values printed with 1-9 significant digits, %e with 0-16 decimals,
 * fixed notation, and a quarter of them within a few units of a float rounding midpoint
 * (printed with 9-17 digits), where a fast path that trusts a double too far goes wrong.
 * Prints the count and exits 1 on any difference. About 7 s for 20 rounds. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

enum { N = 1000000, TEXT = 36 };

static uint64_t state = 88172645463325252u;

static uint64_t next_random(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* One random decimal string for the float nearest to a random bit pattern. */
static void random_number(char *out)
{
    uint32_t bits = (uint32_t)next_random();
    float f;
    memcpy(&f, &bits, sizeof f);
    if (!isfinite(f) || fabsf(f) > 1e30f || fabsf(f) < 1e-30f)
        f = 1.5f;
    switch (next_random() % 4) {
    case 0: { /* the midpoint between f and the next float (exact in double), nearly */
        const double mid = ((double)f + (double)nextafterf(f, INFINITY)) / 2;
        snprintf(out, TEXT, "%.*g", 9 + (int)(next_random() % 9), mid);
        break;
    }
    case 1:
        snprintf(out, TEXT, "%.*g", 1 + (int)(next_random() % 9), (double)f);
        break;
    case 2:
        snprintf(out, TEXT, "%.*e", (int)(next_random() % 17), (double)f);
        break;
    default:
        snprintf(out, TEXT, "%.*f", (int)(next_random() % 12), (double)(f / 1e20f * 1e3f));
    }
}

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? atoi(argv[1]) : 20;
    char *body = malloc((size_t)N * (TEXT + 1) + 256);
    char(*text)[TEXT] = malloc(sizeof *text * N);
    if (!body || !text)
        return 2;
    const ct_api_limits limits = {.max_elements = N, .max_output_elements = N, .max_json_depth = 32};
    long long differ = 0, total = 0;
    for (int r = 0; r < rounds; r++) {
        int n = sprintf(body, "{\"weight\": [[[1]]], \"input\": {\"shape\": [1, 1, %d], \"data\": [", N);
        for (int i = 0; i < N; i++) {
            random_number(text[i]);
            n += sprintf(body + n, "%s%s", i ? "," : "", text[i]);
        }
        n += sprintf(body + n, "]}}");
        ct_request req;
        ct_api_error err;
        if (ct_json_parse_request(body, (size_t)n, &limits, 1, &req, &err) != 0) {
            printf("the parser refused the body: %s\n", err.message);
            return 1;
        }
        for (int i = 0; i < N; i++, total++) {
            const float want = strtof(text[i], NULL);
            if (memcmp(&want, &req.input.data[i], sizeof want) != 0 && differ++ < 10)
                printf("%s: parsed as %.9g, strtof gives %.9g\n", text[i], req.input.data[i], want);
        }
        ct_request_free(&req);
    }
    printf("%lld numbers, %lld differ from strtof\n", total, differ);
    free(body);
    free(text);
    return differ != 0;
}
