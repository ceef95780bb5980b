/* budget.c - a lock-free counter of reserved bytes with a ceiling. */
#include "budget.h"

int ct_budget_reserve(ct_budget *b, int64_t bytes)
{
    long long used = atomic_load(&b->used);
    do {
        if (bytes < 0 || used + bytes > b->limit)
            return -1;
    } while (!atomic_compare_exchange_weak(&b->used, &used, used + bytes));
    return 0;
}

void ct_budget_release(ct_budget *b, int64_t bytes)
{
    atomic_fetch_sub(&b->used, bytes);
}
