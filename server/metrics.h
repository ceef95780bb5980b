/* metrics.h - the daemon's counters and histograms, exposed at GET /metrics in the
 * Prometheus text format. Every update is a relaxed atomic: no locks on the request path. */
#ifndef CT_SERVER_METRICS_H
#define CT_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

#include "routes.h"

#define CT_METRIC_CODES 16
#define CT_METRIC_BUCKETS 15

typedef struct ct_histogram {
    atomic_llong buckets[CT_METRIC_BUCKETS]; /* cumulative on output, per bucket here */
    atomic_llong count;
    atomic_llong sum_ns;
} ct_histogram;

typedef struct ct_metrics {
    atomic_llong requests[ROUTE_COUNT][CT_METRIC_CODES];
    atomic_llong bytes_in, bytes_out;
    ct_histogram duration, queue_wait, compute;
    atomic_llong cancelled_deadline; /* requests answered 504: deadline passed, queued or computing */
    atomic_llong cancelled_client_gone; /* requests dropped or stopped: their client hung up */
} ct_metrics;

void ct_metrics_request(ct_metrics *m, ct_route_id route, int status, size_t in, size_t out, double seconds);
void ct_histogram_observe(ct_histogram *h, double seconds);

struct ct_server;
struct ct_buffer;
/* Appends the whole exposition. */
int ct_metrics_write(struct ct_server *srv, struct ct_buffer *out);

#endif /* CT_SERVER_METRICS_H */
