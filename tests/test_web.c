/* test_web.c - the API's description and its page, checked by the tools their users have
 * (tests/web/, node): @redocly/cli lints /openapi.json; a conformance run sends every
 * operation in the document to the daemon and validates what comes back against it (with
 * and without a bearer token); headless Chromium opens /docs and runs the try-it panel.
 * make test installs node, npm, Chromium and the npm packages (scripts/web-deps.sh). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

/* Runs node on a tests/web script with arguments; returns its exit status, output in *out. */
static int run_node(const char *script, const char *args, char **out)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "node tests/web/%s %s 2>&1", script, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    *out = buf;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect_node_passes(const char *script, const char *args, const char *last_line)
{
    char *out;
    int rc = run_node(script, args, &out);
    if (rc != 0 || !strstr(out, last_line)) {
        fprintf(stderr, "%s\n", out);
        FAIL("node tests/web/%s %s: exit %d", script, args, rc);
    }
    free(out);
}

static char *token_file(void)
{
    static char path[] = "/tmp/ct-web-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "web-t0ken\n", 10) == 10);
    close(fd);
    return path;
}

TEST_WITH_TIMEOUT(openapi_document_lints_clean_with_and_without_auth, 120)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    daemon_proc d;
    daemon_start(&d, NULL);
    char args[64];
    snprintf(args, sizeof args, "%d", d.port);
    expect_node_passes("lint.mjs", args, "lint: no errors");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    char *tok = token_file();
    daemon_start(&d, (const char *const[]){"--auth-token-file", tok, NULL});
    snprintf(args, sizeof args, "%d web-t0ken", d.port);
    expect_node_passes("lint.mjs", args, "lint: no errors");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    unlink(tok);
}

TEST_WITH_TIMEOUT(openapi_every_operation_answers_as_documented, 120)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    daemon_proc d;
    daemon_start(&d, NULL);
    char args[64];
    snprintf(args, sizeof args, "%d", d.port);
    expect_node_passes("conformance.mjs", args, ", 0 failures");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    char *tok = token_file();
    daemon_start(&d, (const char *const[]){"--auth-token-file", tok, NULL});
    snprintf(args, sizeof args, "%d web-t0ken", d.port);
    expect_node_passes("conformance.mjs", args, ", 0 failures");
    CHECK_INT_EQ(daemon_stop(&d), 0);
    unlink(tok);
}

TEST_WITH_TIMEOUT(docs_page_renders_the_api_and_runs_the_seed_layer_in_chromium, 120)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    daemon_proc d;
    daemon_start(&d, NULL);
    char args[128];
    snprintf(args, sizeof args, "%d %s/docs-page.png", d.port, getenv("CT_BUILD") ? getenv("CT_BUILD") : "build");
    expect_node_passes("browser.mjs", args, "browser: 0 failures");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
