/* test_readme.c - the manual cannot drift from the program: every sh, python and js snippet
 * of README.md runs as pasted, in order, against a daemon (tests/readme_snippets.py), and the
 * Configuration section holds `convtransposed --help`'s table line for line. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "http_client.h"
#include "test.h"

TEST_WITH_TIMEOUT(readme_snippets_run_as_pasted, 120)
{
    daemon_proc d = daemon_up(NULL);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/readme_snippets.py %d README.md 2>&1", d.port);
    char *out;
    int rc = run_command(cmd, &out);
    if (rc != 0 || !strstr(out, " snippets, 0 failures"))
        FAIL("README snippets:\n%s", out);
    /* enough of the manual ran to mean something: every API section has a snippet */
    CHECK(strstr(out, "readme: 1 snippets") == NULL && strstr(out, "readme: 0 snippets") == NULL);
    free(out);
    CHECK_INT_EQ(daemon_stop(&d), 0);
}

TEST(readme_configuration_table_is_the_help_output)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s --help", getenv("CT_DAEMON") ? getenv("CT_DAEMON") : "build/convtransposed");
    char *help;
    int rc = run_command(cmd, &help);
    CHECK_INT_EQ(rc, 0);
    FILE *f = fopen("README.md", "r");
    CHECK(f != NULL);
    static char readme[1 << 20];
    size_t n = fread(readme, 1, sizeof readme - 1, f);
    readme[n] = '\0';
    fclose(f);
    int rows = 0;
    for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '|')
            continue;
        char want[1024];
        snprintf(want, sizeof want, "\n%s\n", line);
        if (!strstr(readme, want))
            FAIL("README.md lacks this line of --help: %s", line);
        rows++;
    }
    CHECK(rows >= 20);
    free(help);
}
