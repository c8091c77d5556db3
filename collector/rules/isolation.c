/* isolation: see isolation.h. */
#include "isolation.h"

bool isolation_judge(bool isolated, const isolation_tally_t *t)
{
    if (isolated) /* no evidence (no shared votes) is not agreement */
        return t->considered == 0 || t->contradicted > 0;
    if (t->considered <= 0 || t->contradicted <= 0)
        return false;
    if (t->considered < ISOLATION_MIN_ASSETS)
        return t->considered >= 2 && t->contradicted == t->considered;
    return t->contradicted >= ISOLATION_MIN_ASSETS &&
           t->contradicted * 100 >= ISOLATION_PERCENT * t->considered;
}
