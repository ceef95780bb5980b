/* config.h - the daemon's settings: one table of {flag, env, type, min, max, default, field}
 * read from defaults, then CONVTRANSPOSED_* environment variables, then flags. */
#ifndef CT_SERVER_CONFIG_H
#define CT_SERVER_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef struct ct_config {
    char host[256];
    int64_t port;
    int64_t threads;             /* compute threads in total */
    int64_t workers;             /* requests computed at once */
    int64_t queue;               /* requests waiting for a worker */
    int64_t max_body;            /* bytes */
    int64_t max_elements;        /* per tensor */
    int64_t max_output_elements; /* per response */
    int64_t max_json_depth;      /* nesting of JSON arrays and objects */
    int64_t max_gflop;           /* nominal GFLOP per request; 0 = none */
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t timeout;             /* idle connection timeout, seconds */
    int64_t drain_timeout;       /* seconds to finish in-flight requests on SIGTERM */
    int64_t request_timeout;     /* default deadline of a request, seconds; 0 = none */
    char log_level[16];          /* error, warn, info, debug */
    int64_t max_memory;          /* bytes for all requests in flight (bodies, tensors, work) */
    char auth_token_file[1024];  /* bearer token file; empty = no auth */
    char tls_cert[1024];         /* PEM certificate; with tls_key: HTTPS */
    char tls_key[1024];
    char model_dir[1024];        /* registered layers kept here; empty = memory only */
    char cors_origin[256];       /* allowed browser origin ("*" for any); empty = no CORS */
    int64_t reuse_port;          /* 1: SO_REUSEPORT, several daemons share the port */
    int healthcheck;             /* --healthcheck: probe /readyz and exit */
    int version;                 /* --version: print it and exit */
} ct_config;

/* Fills cfg from defaults, environment and argv. Returns 0, 1 for --help (printed), or -1
 * with a message on stderr. */
int ct_config_load(ct_config *cfg, int argc, char **argv);

/* Writes the settings as a JSON object body (for GET /): {"threads": 2, ...}. */
void ct_config_describe(const ct_config *cfg, FILE *out);

#endif /* CT_SERVER_CONFIG_H */
