/* test_house.c - the code keeps the shape docs/design.md promises: no source file over 500
 * lines, no function over 120, no include across the layers by a relative path, and no
 * circle of files calling each other's functions (scripts/house.py reads the built
 * objects' symbol tables). The layering itself is the compiler's: see the Makefile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "test.h"

TEST(house_files_functions_and_calls_keep_their_bounds)
{
    const char *build = getenv("CT_BUILD") ? getenv("CT_BUILD") : "build";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 scripts/house.py %s 2>&1", build);
    char *out;
    int rc = run_command(cmd, &out);
    if (rc != 0 || !strstr(out, " 0 breaches"))
        FAIL("scripts/house.py:\n%s", out);
    /* it read the tree: every layer's files, not an empty checkout */
    int files = 0;
    const char *at = strstr(out, "house: ");
    CHECK(at && sscanf(at, "house: %d files checked", &files) == 1 && files >= 60);
    free(out);
}
