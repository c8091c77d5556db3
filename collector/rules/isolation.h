/* isolation: is an agent a broken vantage point rather than a witness of outages? Pure
 * logic: the engine tallies, per agent, over the assets it has a live vote on and that at
 * least one other (live, not isolated) agent also votes on:
 *   considered    such assets,
 *   contradicted  those the agent votes DOWN while no other agent votes DOWN and at least
 *                 one votes UP.
 * An agent becomes isolated when contradicted >= ISOLATION_MIN_ASSETS and
 * contradicted >= ISOLATION_PERCENT % of considered, or, with fewer considered assets than
 * ISOLATION_MIN_ASSETS, when every considered asset is contradicted and there are at least
 * 2: with a single asset, one region failing is indistinguishable from a regional outage of
 * that asset, and DEGRADED is the honest verdict. It stops being isolated when it shares votes with the others again and contradicts them on
 * none (an agent without shared votes, e.g. stale after a restart, stays isolated).
 * Only live agents are judged: the engine releases an agent that goes AGENT_DOWN (it forgets
 * its votes) and does not judge it until it is back (engine_agents.c). */
#ifndef ISOLATION_H
#define ISOLATION_H

#include <stdbool.h>

#define ISOLATION_MIN_ASSETS 3
#define ISOLATION_PERCENT 50

typedef struct {
    int considered;
    int contradicted;
} isolation_tally_t;

/* The agent's new isolation state given its current one and its tally. */
bool isolation_judge(bool isolated, const isolation_tally_t *t);

#endif
