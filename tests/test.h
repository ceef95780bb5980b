/* test.h - a small test harness: TEST(name) registers a test, CHECK* macros report the
 * file, the line and both sides, and tests/runner.c runs each test in its own process with
 * a timeout, ending with "N passed, M failed". */
#ifndef CT_TESTS_TEST_H
#define CT_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*ct_test_fn)(void);
void ct_test_register(const char *name, ct_test_fn fn, int timeout_seconds);

#define TEST_WITH_TIMEOUT(name, seconds)                                        \
    static void test_##name(void);                                             \
    __attribute__((constructor)) static void register_##name(void)             \
    {                                                                          \
        ct_test_register(#name, test_##name, seconds);                         \
    }                                                                          \
    static void test_##name(void)
#define TEST(name) TEST_WITH_TIMEOUT(name, 60)

/* A failed check prints and exits the test's process with status 1. */
#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        exit(1);                                                               \
    } while (0)

/* A test that cannot run in this build says why and is counted as skipped, not passed. */
#define SKIP(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "  skipped: ");                                        \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        exit(CT_TEST_SKIPPED);                                                 \
    } while (0)
#define CT_TEST_SKIPPED 77

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            FAIL("CHECK(%s) failed", #cond);                                   \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                     \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            FAIL("%s == %s failed: %lld != %lld", #a, #b, a_, b_);             \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                     \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                 \
            FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                 b_ ? b_ : "(null)");                                          \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                       \
    do {                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                           \
        if (!h_ || !strstr(h_, n_))                                            \
            FAIL("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (tol)))                                         \
            FAIL("%s ~= %s failed: %.9g vs %.9g (tol %.3g)", #a, #b, a_, b_,   \
                 (double)(tol));                                               \
    } while (0)

#endif /* CT_TESTS_TEST_H */
