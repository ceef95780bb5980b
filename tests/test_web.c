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

static void expect_node_passes(const char *script, const char *args, const char *last_line)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "node tests/web/%s %s 2>&1", script, args);
    int rc = run_command(cmd, &out);
    if (rc != 0 || !strstr(out, last_line)) {
        fprintf(stderr, "%s\n", out);
        FAIL("node tests/web/%s %s: exit %d", script, args, rc);
    }
    free(out);
}

/* Runs script against a daemon without a token, then against one with a bearer token. */
static void expect_passes_with_and_without_auth(const char *script, const char *last_line)
{
    char path[] = "/tmp/ct-web-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "web-t0ken\n", 10) == 10);
    close(fd);
    for (int auth = 0; auth < 2; auth++) {
        daemon_proc d = daemon_up(auth ? (const char *const[]){"--auth-token-file", path, NULL} : NULL);
        char args[64];
        snprintf(args, sizeof args, "%d%s", d.port, auth ? " web-t0ken" : "");
        expect_node_passes(script, args, last_line);
        CHECK_INT_EQ(daemon_stop(&d), 0);
    }
    unlink(path);
}

TEST_WITH_TIMEOUT(openapi_document_lints_clean_with_and_without_auth, 120)
{
    expect_passes_with_and_without_auth("lint.mjs", "lint: no errors");
}

TEST_WITH_TIMEOUT(openapi_every_operation_answers_as_documented, 120)
{
    expect_passes_with_and_without_auth("conformance.mjs", ", 0 failures");
}

TEST_WITH_TIMEOUT(docs_page_renders_the_api_and_runs_the_seed_layer_in_chromium, 120)
{
    daemon_proc d = daemon_up(NULL);
    char args[128];
    snprintf(args, sizeof args, "%d %s/docs-page.png", d.port, getenv("CT_BUILD") ? getenv("CT_BUILD") : "build");
    expect_node_passes("browser.mjs", args, "browser: 0 failures");
    CHECK_INT_EQ(daemon_stop(&d), 0);
}
