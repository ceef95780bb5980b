/* negotiate.c - content negotiation (RFC 9110 section 12.5): picks one of the server's
 * offers from an Accept-style header by q-value. The most specific range that matches an
 * offer sets its q (type/subtype over type/ * over * / *); q=0 refuses an offer; among equal
 * q the server's order decides, so a client that accepts anything gets the first offer. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

/* How specifically range [r, r + rlen) names offer: 3 exact, 2 type/ *, 1 * / *, 0 not. */
static int match_level(const char *r, size_t rlen, const char *offer)
{
    size_t olen = strlen(offer);
    if (rlen == olen && strncasecmp(r, offer, rlen) == 0)
        return 3;
    if (rlen == 3 && memcmp(r, "*/*", 3) == 0)
        return 1;
    if (rlen == 1 && r[0] == '*') /* Accept-Encoding's wildcard */
        return 1;
    const char *slash = memchr(offer, '/', olen);
    if (slash && rlen >= 2 && r[rlen - 1] == '*' && r[rlen - 2] == '/' && (size_t)(slash - offer) == rlen - 2 &&
        strncasecmp(r, offer, rlen - 2) == 0)
        return 2;
    return 0;
}

/* The q of one element's parameters [p, end): 1 unless a valid q= says otherwise. */
static double element_q(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char buf[16];
            size_t n = (size_t)(end - p - 2) < sizeof buf - 1 ? (size_t)(end - p - 2) : sizeof buf - 1;
            memcpy(buf, p + 2, n);
            buf[n] = '\0';
            char *stop;
            double q = strtod(buf, &stop);
            return stop == buf || q < 0 ? 1 : q > 1 ? 1 : q;
        }
        const char *semi = memchr(p, ';', (size_t)(end - p));
        p = semi ? semi : end;
    }
    return 1;
}

int ct_negotiate(const char *header, const char *const *offers, int n)
{
    if (!header || !*header)
        return 0;
    int best = -1;
    double best_q = 0;
    for (int i = 0; i < n; i++) {
        int level = 0;
        double q = 0;
        for (const char *p = header; *p;) {
            const char *end = p + strcspn(p, ",");
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *range_end = p + strcspn(p, ";, \t");
            if (range_end > end)
                range_end = end;
            int l = match_level(p, (size_t)(range_end - p), offers[i]);
            if (l > level) {
                level = l;
                q = element_q(range_end, end);
            }
            p = *end ? end + 1 : end;
        }
        if (q > best_q) {
            best_q = q;
            best = i;
        }
    }
    return best;
}
