/* asset_rules: what the alert engine does about one asset, as a pure function of the facts
 * (engine rules 3-7, 14, 15, 16 and 17 in engine.c). No I/O, no clock, no logging: the engine
 * gathers the facts (the verdict from quorum.c, its own memory of the open incident, the
 * time), calls these, and applies the actions it gets back (journal, metrics, bus).
 *
 *  - maintenance: nothing opens, closes or is sent;
 *  - DOWN without an open incident: open one; its DOWN goes out unless the asset is flapping
 *    (the FLAPPING notification stands for the storm), the asset paged within throttleSeconds
 *    (throttled), or no onDown channel exists;
 *  - UP or DEGRADED with an open incident: close it with its RECOVERY unless recovery_hold.h
 *    holds it (flapping, restless); a new wait or a new reason is an ASSET_HOLD;
 *  - DOWN with an open incident that was waiting: a relapse (same incident, nothing sent);
 *  - DOWN with an open incident, not acknowledged, repeatAlerts, throttleSeconds > 0, not
 *    flapping, an onDown channel, and throttleSeconds since the last DOWN/REMINDER: a
 *    REMINDER;
 *  - UNKNOWN and UNCONFIRMED neither open nor close: no evidence is not a recovery, and one
 *    location is not a confirmation. */
#ifndef ASSET_RULES_H
#define ASSET_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "quorum.h"
#include "recovery_hold.h"

typedef struct {
    quorum_state_t verdict;    /* this evaluation's */
    bool maint;                /* a maintenance window covers the asset now */
    bool open;                 /* an incident is open (as the engine decided) */
    bool acknowledged;         /* and someone acknowledged it: no more reminders */
    bool flapping;             /* the asset's flapping flag */
    double percent;            /* its percent state change, 0..100 */
    int low_percent;           /* the effective low flapping threshold */
    int64_t out_of_down_ms;    /* while open and out of DOWN: for how long */
    int64_t hold_ms;           /* the restless hold (recovery_hold_ms) */
    recovery_verdict_t held;   /* the open incident's current wait (RECOVERY_CLOSE: none) */
    int throttle_s;            /* notificationPolicy.throttleSeconds */
    bool repeat_alerts;        /* notificationPolicy.repeatAlerts */
    bool down_channels;        /* onDown names at least one channel */
    int64_t now_wall;          /* unix ms */
    int64_t last_notify_ms;    /* the asset's newest DOWN/REMINDER (unix ms), 0 never */
} asset_facts_t;

typedef enum {
    ASSET_OPEN = 1,            /* open an incident (page: its DOWN goes out) */
    ASSET_CLOSE,               /* resolve it, with its RECOVERY when its DOWN went out */
    ASSET_HOLD,                /* keep it open: held says why */
    ASSET_RELAPSE,             /* DOWN again during a wait: same incident, nothing sent */
    ASSET_REMIND,              /* queue a REMINDER */
} asset_action_t;

#define ASSET_ACTIONS_MAX 2

typedef struct {
    asset_action_t actions[ASSET_ACTIONS_MAX]; /* applied in this order */
    int n;
    bool page;                 /* ASSET_OPEN: the DOWN goes out */
    const char *quiet;         /* ASSET_OPEN without page: "flapping", "throttled" or
                                  "no_channel" (static) */
    recovery_verdict_t held;   /* ASSET_HOLD: why */
} asset_decision_t;

/* The actions for one evaluation of an asset. */
void asset_rules_decide(const asset_facts_t *f, asset_decision_t *d);

/* Rule 16: the probe interval for a verdict: incident_ms while DEGRADED, DOWN or
 * UNCONFIRMED (the agents look closer while something is wrong), normal_ms otherwise. */
uint32_t asset_rules_interval_ms(quorum_state_t verdict, uint32_t normal_ms,
                                 uint32_t incident_ms);

/* Escalation (a route's tiers): the open incident, paged, not acknowledged, not in
 * maintenance, open for open_ms; tier i is due once open_ms >= after_s[i] * 1000. Returns
 * the first due tier not in fired (bit i), or -1. At most 32 tiers. */
typedef struct {
    bool open, notified, acknowledged, maint;
    int64_t open_ms;
    const int *after_s;
    size_t n;
    uint32_t fired;
} escalation_facts_t;

int asset_rules_escalate(const escalation_facts_t *f);

/* Rule 15, a FLAPPING/STABLE transition: what goes out with it. */
typedef struct {
    bool flapping;             /* the new flag */
    bool maint;
    bool open;                 /* an incident is open */
    bool notified;             /* its DOWN (or a REMINDER) went out */
    quorum_state_t verdict;
    bool down_channels, recovery_channels;
} flap_facts_t;

typedef struct {
    bool notify;               /* FLAPPING (onDown) / STABLE (onRecovery) rows */
    bool page_down;            /* settled DOWN: the DOWN flapping suppressed goes out now */
    bool reevaluate;           /* settled with an open incident: judge it again at once (its
                                  RECOVERY may go out right after the STABLE) */
} flap_decision_t;

void asset_rules_flap(const flap_facts_t *f, flap_decision_t *d);

#endif
