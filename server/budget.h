/* budget.h - the memory budget of all requests in flight (--max-memory): request bodies,
 * tensors and compute workspaces reserve from it, so overload is answered with 503 rather
 * than by the OOM killer. */
#ifndef CT_SERVER_BUDGET_H
#define CT_SERVER_BUDGET_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct ct_budget {
    int64_t limit;
    atomic_llong used;
} ct_budget;

/* Takes bytes from the budget: 0, or -1 (nothing taken) when they do not fit now. */
int ct_budget_reserve(ct_budget *b, int64_t bytes);
void ct_budget_release(ct_budget *b, int64_t bytes);

#endif /* CT_SERVER_BUDGET_H */
