/* fuzz_reader.h - turns a fuzzer's bytes into the numbers the harnesses need: bytes one at a
 * time (0 once the input runs out), and int64 values drawn where shape arithmetic breaks. */
#ifndef CT_TESTS_FUZZ_READER_H
#define CT_TESTS_FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static inline uint8_t byte(reader *r)
{
    if (!r->left)
        return 0;
    r->left--;
    return *r->p++;
}

/* Mostly small values, sometimes extremes: the interesting edges of shape arithmetic. */
static inline int64_t value(reader *r)
{
    uint8_t kind = byte(r);
    switch (kind >> 5) {
    case 0: return (int64_t)(kind & 7) - 1;
    case 1: return INT64_MAX - (kind & 3);
    case 2: return INT64_MIN + (kind & 3);
    case 3: return (int64_t)((uint64_t)1 << (kind & 62)) + byte(r);
    default: return kind & 15;
    }
}

/* Mostly small values, sometimes a power of two up to 2^62 give or take a byte, or int64's
 * top: sizes whose products wrap when multiplied by an element size. */
static inline int64_t value_near_powers(reader *r)
{
    uint8_t kind = byte(r);
    switch (kind >> 5) {
    case 0: return (int64_t)(kind & 7) - 1;
    case 1: return INT64_MAX - (kind & 3);
    case 2: return (int64_t)((uint64_t)1 << (kind & 62)) - (kind & 1 ? byte(r) : 0);
    case 3: return (int64_t)((uint64_t)1 << (kind & 62)) + byte(r);
    default: return kind & 15;
    }
}

#endif /* CT_TESTS_FUZZ_READER_H */
