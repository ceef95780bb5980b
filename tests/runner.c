/* runner.c - runs every registered test in a child process (a crash or a hang fails that
 * test only), prints one line per test and ends with "N passed, M failed" (and ", K
 * skipped" when a test could not run in this build). Arguments are
 * substrings: only tests whose name contains one of them run. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define MAX_TESTS 1024

typedef struct test_entry {
    const char *name;
    ct_test_fn fn;
    int timeout;
} test_entry;
static test_entry tests[MAX_TESTS];
static int ntests;

void ct_test_register(const char *name, ct_test_fn fn, int timeout_seconds)
{
    if (ntests < MAX_TESTS)
        tests[ntests++] = (test_entry){name, fn, timeout_seconds};
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i]))
            return 1;
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < ntests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        double start = now();
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            alarm((unsigned)tests[i].timeout);
            tests[i].fn();
            fflush(NULL);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        double ms = (now() - start) * 1e3;
        if (WIFEXITED(status) && WEXITSTATUS(status) == CT_TEST_SKIPPED) {
            skipped++;
            printf("skip %-48s %8.1f ms\n", tests[i].name, ms);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
            printf("ok   %-48s %8.1f ms\n", tests[i].name, ms);
        } else {
            failed++;
            if (WIFSIGNALED(status))
                printf("FAIL %-48s (signal %d%s)\n", tests[i].name, WTERMSIG(status),
                       WTERMSIG(status) == SIGALRM ? ": timed out" : "");
            else
                printf("FAIL %-48s (exit %d)\n", tests[i].name, WEXITSTATUS(status));
        }
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
