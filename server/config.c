/* config.c - settings from one table: flags, CONVTRANSPOSED_* env, defaults, limits, --help. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

enum setting_type { SETTING_INT, SETTING_STRING, SETTING_SIZE };

typedef struct setting {
    const char *flag;  /* without the leading "--" */
    enum setting_type type;
    size_t offset;
    int64_t min, max;
    const char *default_value;
    const char *help;
} setting;

#define FIELD(f) offsetof(ct_config, f)
static const setting settings[] = {
    {"host", SETTING_STRING, FIELD(host), 0, 0, "0.0.0.0", "address to listen on"},
    {"port", SETTING_INT, FIELD(port), 0, 65535, "8080", "TCP port; 0 picks a free one and prints it"},
    {"threads", SETTING_INT, FIELD(threads), 0, 1024, "0", "compute threads in total; 0 = number of cores"},
    {"workers", SETTING_INT, FIELD(workers), 0, 1024, "0", "requests computed at once; 0 = threads"},
    {"queue", SETTING_INT, FIELD(queue), 1, 1000000, "256", "requests waiting for a worker; more get 503"},
    {"max-body", SETTING_SIZE, FIELD(max_body), 1024, INT64_MAX / 2, "64M", "largest request body in bytes (K, M, G suffixes)"},
    {"max-elements", SETTING_SIZE, FIELD(max_elements), 1, INT64_MAX / 8, "64M", "most elements in one tensor"},
    {"max-output-elements", SETTING_SIZE, FIELD(max_output_elements), 1, INT64_MAX / 8, "64M", "most elements in one result"},
    {"max-gflop", SETTING_INT, FIELD(max_gflop), 0, INT64_MAX / 8, "2000", "most work in one request, in nominal GFLOP (2 N C_in in C_out/groups kernel); more is a 413; 0 = no limit"},
    {"max-json-depth", SETTING_INT, FIELD(max_json_depth), 2, 1000, "32", "deepest nesting of JSON arrays and objects in a request"},
    {"max-connections", SETTING_INT, FIELD(max_connections), 1, 1000000, "1000", "open connections in total"},
    {"max-connections-per-ip", SETTING_INT, FIELD(max_connections_per_ip), 0, 1000000, "256", "open connections per client address (a proxy's keep-alive pool fits; one address cannot take every slot); 0 = no limit"},
    {"timeout", SETTING_INT, FIELD(timeout), 1, 86400, "30", "seconds an idle connection is kept"},
    {"request-timeout", SETTING_INT, FIELD(request_timeout), 0, 86400, "60", "seconds a request may wait and compute unless it says (X-Request-Timeout-Ms, OIP timeout); 0 = none"},
    {"drain-timeout", SETTING_INT, FIELD(drain_timeout), 0, 86400, "30", "seconds to finish in-flight requests on SIGTERM"},
    {"log-level", SETTING_STRING, FIELD(log_level), 0, 0, "info", "error, warn, info or debug"},
    {"max-memory", SETTING_SIZE, FIELD(max_memory), 1 << 20, INT64_MAX / 2, "4G", "bytes for all requests in flight; past it, 503"},
    {"auth-token-file", SETTING_STRING, FIELD(auth_token_file), 0, 0, "", "file holding a bearer token every request but the health probes must send"},
    {"tls-cert", SETTING_STRING, FIELD(tls_cert), 0, 0, "", "PEM certificate file: serve HTTPS (with --tls-key)"},
    {"tls-key", SETTING_STRING, FIELD(tls_key), 0, 0, "", "PEM private key file for --tls-cert"},
    {"model-dir", SETTING_STRING, FIELD(model_dir), 0, 0, "", "folder keeping registered layers across restarts; empty = memory only"},
    {"reuse-port", SETTING_INT, FIELD(reuse_port), 0, 1, "0", "1 = share the port with other daemons (SO_REUSEPORT); otherwise a port in use fails the start"},
    {"cors-origin", SETTING_STRING, FIELD(cors_origin), 0, 0, "", "allow browser calls from this origin (\"*\" for any); off when empty"},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static int parse_size(const char *text, int64_t *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno)
        return -1;
    int64_t mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mult = 1024; end++; break;
    case 'M': mult = 1024 * 1024; end++; break;
    case 'G': mult = 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
    if (*end || __builtin_mul_overflow((int64_t)v, mult, out))
        return -1;
    return 0;
}

static int apply(ct_config *cfg, const setting *s, const char *value, const char *origin)
{
    char *field = (char *)cfg + s->offset;
    if (s->type == SETTING_STRING) {
        size_t cap = s->offset == FIELD(host) ? sizeof cfg->host
                   : s->offset == FIELD(log_level) ? sizeof cfg->log_level
                   : s->offset == FIELD(cors_origin) ? sizeof cfg->cors_origin
                   : sizeof cfg->auth_token_file; /* the path fields */
        if (strlen(value) >= cap) {
            fprintf(stderr, "convtransposed: %s --%s: value is too long\n", origin, s->flag);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    int64_t v;
    if (parse_size(value, &v) != 0 || (s->type == SETTING_INT && strpbrk(value, "KMGkmg")) || v < s->min || v > s->max) {
        fprintf(stderr, "convtransposed: %s --%s=%s: must be an integer from %lld to %lld\n", origin, s->flag, value,
                (long long)s->min, (long long)s->max);
        return -1;
    }
    *(int64_t *)field = v;
    return 0;
}

static void env_name(const setting *s, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "CONVTRANSPOSED_");
    for (const char *p = s->flag; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

/* Prints the settings as the markdown table the README's Configuration section holds
 * verbatim (a test compares them), so the two cannot drift. */
static void usage(void)
{
    printf("usage: convtransposed [--FLAG VALUE ...] [--version] [--healthcheck]\n\n");
    printf("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        char env[64];
        env_name(&settings[i], env, sizeof env);
        const char *def = settings[i].default_value;
        printf("| `--%s` | `%s` | %s%s%s | %s |\n", settings[i].flag, env, *def ? "`" : "", *def ? def : "(none)", *def ? "`" : "",
               settings[i].help);
    }
    printf("| `--version` | | | print the version and the kernels' instruction set, and exit |\n");
    printf("| `--healthcheck` | | | probe GET /readyz on --host/--port and exit 0 when ready (for HEALTHCHECK) |\n");
}

int ct_config_load(ct_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NSETTINGS; i++)
        if (apply(cfg, &settings[i], settings[i].default_value, "default") != 0)
            return -1;
    for (size_t i = 0; i < NSETTINGS; i++) {
        char env[64];
        env_name(&settings[i], env, sizeof env);
        const char *v = getenv(env);
        if (v && *v && apply(cfg, &settings[i], v, env) != 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage();
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            cfg->version = 1;
            continue;
        }
        if (strcmp(arg, "--healthcheck") == 0) {
            cfg->healthcheck = 1;
            continue;
        }
        const setting *s = NULL;
        const char *value = NULL;
        if (strncmp(arg, "--", 2) == 0) {
            const char *eq = strchr(arg, '=');
            size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            for (size_t i = 0; i < NSETTINGS; i++)
                if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, arg + 2, len) == 0)
                    s = &settings[i];
            value = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        }
        if (!s || !value) {
            fprintf(stderr, "convtransposed: unknown or incomplete option %s (see --help)\n", arg);
            return -1;
        }
        if (apply(cfg, s, value, "flag") != 0)
            return -1;
    }
    if (strcmp(cfg->log_level, "error") && strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "info") &&
        strcmp(cfg->log_level, "debug")) {
        fprintf(stderr, "convtransposed: --log-level must be error, warn, info or debug\n");
        return -1;
    }
    if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
        fprintf(stderr, "convtransposed: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 0 ? n : 1;
    }
    if (cfg->workers == 0)
        cfg->workers = cfg->threads;
    return 0;
}

void ct_config_describe(const ct_config *cfg, FILE *out)
{
    fprintf(out, "{");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *field = (const char *)cfg + settings[i].offset;
        fprintf(out, "%s\"%s\": ", i ? ", " : "", settings[i].flag);
        if (settings[i].type == SETTING_STRING)
            fprintf(out, "\"%s\"", field); /* paths and names only: the token itself is never here */
        else
            fprintf(out, "%lld", (long long)*(const int64_t *)field);
    }
    fprintf(out, "}");
}
