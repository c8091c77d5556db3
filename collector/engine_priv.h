/* engine_priv: the alert engine's state, shared by its files (engine.c: actor, messages,
 * facts for the rules, rebuild; engine_incidents.c: applies the rules' incident actions
 * and builds the payloads; engine_journal.c: decisions on their way to the database;
 * engine_agents.c: agent liveness, clock skew and isolation; engine_flapping.c: check
 * rounds and the FLAPPING / STABLE actions). What to do is decided by the pure rules in
 * collector/rules/ (asset_rules.h, quorum.h, flapping.h, recovery_hold.h, isolation.h);
 * these files only gather facts and apply actions. Not a public interface: only engine*.c
 * include it. */
#ifndef ENGINE_PRIV_H
#define ENGINE_PRIV_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "asset_rules.h"
#include "collector.h"
#include "config_ref.h"
#include "flapping.h"
#include "maintenance.h"
#include "quorum.h"
#include "recovery_hold.h"
#include "sd_clock.h"
#include "store.h"
#include "store_agents.h"
#include "storm.h"

#define ENGINE_COMP "engine"
#define ENGINE_AGENT_FIELD_MAX 128
#define ENGINE_CHANNELS_MAX 64
/* the reason on the timeline of an incident closed because its asset left the manifest */
#define ENGINE_REMOVED_REASON "removed from the manifest"  /* channels one page goes to (escalation included) */

/* An incident as the engine decided it. It exists in memory from the moment the engine
 * decides to open it; its row is written when the journal (engine_journal.c) applies the
 * decision, which may be later when the database is away. Reference counted: the asset
 * holds one while the incident is open, every journal entry about it holds one. */
typedef struct {
    int refs;
    int64_t db_id;              /* incidents.id once the opening is written, 0 before */
    int64_t started_ms;         /* first failing probe of the quorum (collector clock) */
    bool notified;              /* a DOWN/REMINDER of it was decided (its RECOVERY goes out) */
    bool acked;                 /* acknowledged (POST /api/incidents/{id}/ack): no reminders,
                                   no escalation */
    uint32_t fired;             /* escalation tiers whose DOWN was decided (bit i: tier i) */
    int64_t opened_ms;          /* when it opened (wall ms; the rebuild: its started_at) */
    bool lost;                  /* the database refused its opening for good: nothing more
                                   is written about it */
} e_incident_t;

typedef struct e_op e_op_t;

typedef struct {
    const sd_asset_t *conf;
    quorum_t *q;
    quorum_state_t state;       /* latest verdict */
    const char *db_shown;       /* the state name assets.state holds (static), NULL unknown */
    int64_t state_since_ms;
    e_incident_t *inc;          /* the open incident (decided), NULL none */
    int64_t last_notify_ms;     /* wall ms of the asset's newest DOWN/REMINDER, 0 never */
    int down_votes_shown;       /* value of statusd_asset_down_votes, -1 none yet */
    int down_locations_shown;   /* value of statusd_asset_down_locations, -1 none yet */
    char reason[QUORUM_REASON_MAX]; /* the latest verdict's reason */
    char db_reason[QUORUM_REASON_MAX]; /* the reason assets.state_reason holds */
    /* the asset's effective flapping settings (its own, else the manifest's) */
    int flap_high, flap_low;
    int64_t hold_ms;
    bool logged_clamp;          /* its quorum above its locations was logged */
    /* the notifiers its DOWN/REMINDER/FLAPPING and RECOVERY/STABLE pages go to
     * (sd_notifiers_route; names borrowed from the notifiers, arrays owned) */
    const char **down_ch, **rec_ch;
    size_t n_down_ch, n_rec_ch;
    const sd_tier_t **tiers;    /* escalation tiers of its routes (borrowed; array owned) */
    size_t n_tiers;
    int live;                   /* live agents at the last verdict */
    bool maint;                 /* a maintenance window covers the asset now */
    /* flapping (rule 15): the current check round and the detector */
    flapping_t flap;
    bool flap_db;               /* assets.flapping as decided (FLAPPING/STABLE journaled) */
    int round_results;
    sd_ms_t round_start;
    bool round_changed;
    /* adaptive interval (rule 16): the interval last told to the gateway */
    uint32_t interval_sent_ms;
    /* recovery hold (rule 17, recovery_hold.h) of the open incident */
    sd_ms_t out_of_down_mono;   /* when the verdict left DOWN (monotonic), 0 while DOWN */
    recovery_verdict_t held;    /* why the incident waits (RECOVERY_CLOSE: it does not) */
    int64_t held_since_wall;    /* wall ms the current wait began (its timeline event) */
} e_asset_t;

typedef enum { LIVE_NONE = 0, LIVE_UP, LIVE_DOWN } e_live_t;

typedef struct {
    char *id;
    char region[ENGINE_AGENT_FIELD_MAX + 1];
    int64_t skew_ms;            /* agent clock minus collector clock */
    bool skew_unsaved;          /* skew_ms not yet in agents.clock_skew_ms (retried each tick) */
    int heartbeat_ms;           /* its period as stored at its last Hello; 0 unknown */
    e_live_t pending;           /* a liveness change not yet committed (retried each tick) */
    int64_t last_heard_ms;      /* from the AGENT DOWN message, 0 unknown */
    bool down;                  /* agents.liveness 'down' as committed (or no row: as told) */
    bool in_db;                 /* it has an agents row (loaded at the rebuild) */
    bool heard;                 /* an AGENT, SKEW or RESULTS message of it reached this engine */
    sd_ms_t await_until;        /* rule 10: 'up' at the rebuild and not heard since: declared
                                   down at this monotonic time; 0 not awaited */
    bool unheard;               /* its pending DOWN is that: last heard comes from the store */
    bool isolated;              /* rule 13: its votes do not count */
    bool isolated_db;           /* agents.isolated as committed (retried until equal) */
    int considered, contradicted; /* this tick's isolation tally */
    /* rule 18: forgetting an agent gone for good */
    sd_ms_t last_mono;          /* monotonic ms of its last AGENT, SKEW or RESULTS message, or
                                   of its loading (an agent loaded down: when it went down) */
    bool live_known;            /* an agents row was loaded or an AGENT message came: its
                                   liveness is known (an agent known 'up' is never forgotten) */
} e_agent_t;

/* What a reload took out of use (engine_reload.c): the previous configuration and the
 * assets that left the manifest, kept while journal entries decided before it (op seq <=
 * last_op) may still read them. */
typedef struct e_retired {
    struct e_retired *next;
    config_view_t view;
    e_asset_t **assets;
    size_t n_assets;
    uint64_t last_op;
} e_retired_t;

typedef struct {
    const collector_ctx_t *ctx;
    config_view_t view;         /* the configuration in use (a reload: engine_reload.c) */
    e_retired_t *retired;       /* oldest first */
    zsock_t *pipe;
    zsock_t *pull;
    zsock_t *push;              /* KICK to the notifier */
    zsock_t *to_gateway;        /* INTERVAL to the gateway */
    zpoller_t *poller;
    store_t *store;
    e_asset_t **assets;         /* each allocated alone: journal entries point at them */
    size_t n_assets;
    zhashx_t *by_id;            /* asset id -> e_asset_t* (not owned) */
    zhashx_t *agents;           /* agent id -> e_agent_t* (owned) */
    maintenance_t *maint;
    sd_ms_t next_maint_sync;    /* 0: sync at the next tick */
    bool rebuilt;
    bool db_failing;
    /* the journal of decisions not yet written (engine_journal.c), oldest first */
    e_op_t *journal_head, *journal_tail;
    size_t journal_len, journal_best_effort;
    storm_t *storm;             /* pages per notifier and kind: storms become digests */
    char boot_id[24];           /* this run's prefix of decision keys */
    uint64_t op_seq;
    sd_ms_t next_beat_write;    /* the next heartbeat row (health) */
    sd_ms_t next_decisions_prune;
    uint64_t last_pipeline_seq; /* the last ingest pipeline message evaluated */
    sd_ms_t next_forget_sweep;  /* rule 18 */
    sd_ms_t no_room_until;      /* rule 18: a full agent table found nothing to forget; not
                                   searched again before this */
    bool maint_failing;
    bool logged_unknown, logged_malformed, logged_agent_limit, logged_agents_full;
    bool logged_gateway_drop, logged_forget_full;
    bool terminated;
} self_t;

/* engine.c */
void engine_count(self_t *self, const char *name, const char *help, const char *k,
                  const char *v, double d);
void engine_drop(self_t *self, const char *reason, bool *logged, const char *detail);
void engine_metrics_asset(self_t *self, const e_asset_t *a);
void engine_metrics_open(self_t *self);
int engine_throttle_s(const self_t *self);
/* The notifiers a's DOWN (down) or RECOVERY pages go to (its routes, computed at start); a
 * NULL asset (agent events) gets the default onDown/onRecovery. */
size_t engine_channels(const self_t *self, const e_asset_t *a, bool down,
                       const char *const **names);
void engine_kick(self_t *self);
e_asset_t *engine_find(self_t *self, const char *id);
void engine_evaluate(self_t *self, e_asset_t *a, sd_ms_t now_mono, int64_t now_wall);
/* The state name shown for the asset: MAINTENANCE while a window covers it. */
const char *engine_shown(const e_asset_t *a);

/* An asset of the manifest (its conf, routes and votes; UNKNOWN, no incident). NULL on
 * allocation failure. */
e_asset_t *engine_asset_new(self_t *self, const sd_asset_t *conf);
void engine_asset_free(e_asset_t **a);
/* a's flapping settings, recovery hold and notifier routes from a->conf and the view's
 * manifest and notifiers (the previous routes freed). 0 or -ENOMEM. */
int engine_asset_configure(self_t *self, e_asset_t *a);
/* Fresh votes for a (its quorum rebuilt from a->conf: the probe or vote definition
 * changed). 0 or -ENOMEM (a keeps its old votes). */
int engine_asset_votes(e_asset_t *a);
/* The storm counters rebuilt for the view's storm settings from the recent outbox rows. */
int engine_storm_restore(self_t *self, char *err, size_t errlen);

/* engine_reload.c: a reload (config_ref.h) applied at the top of a loop turn, before any
 * message: new assets join (UNKNOWN until their results come), removed ones close their
 * open incident with the reason "removed from the manifest" and no RECOVERY and leave,
 * changed ones keep their state and incident (their votes start afresh when what is probed
 * or how it is judged changed), routes and notifiers are the new ones from the next page. */
void engine_on_reload(self_t *self);
/* Frees what reloads took out of use once the journal holds nothing decided before them
 * (all: at the end). */
void engine_retired_release(self_t *self, bool all);

/* engine_incidents.c: decisions about incidents; each is journaled (engine_journal.c)
 * and the journal flushed at once, so a decision is never lost while the database is
 * away: it is written when the database is back, exactly once. */
json_t *engine_agents_json(const e_asset_t *a, sd_ms_t now_mono, const char **first_err);
/* The outbox payload (see channel.h) as a new JSON object, without incident_id (the
 * journal sets it when it writes the rows); NULL on allocation failure. */
json_t *engine_payload(const e_asset_t *a, const char *event, int64_t started_ms,
                       const quorum_eval_t *ev, const char *reason, json_t *agents,
                       int64_t now_wall);
void engine_db_failed(self_t *self, const char *what, const char *subject, const char *err);
void engine_db_ok(self_t *self);
/* ASSET_OPEN (asset_rules.h): d->page says whether its DOWN goes out, d->quiet why not. */
int engine_open(self_t *self, e_asset_t *a, const quorum_eval_t *ev, const asset_decision_t *d,
                sd_ms_t now_mono, int64_t now_wall);
int engine_close(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                 int64_t now_wall);
int engine_remind(self_t *self, e_asset_t *a, const quorum_eval_t *ev, sd_ms_t now_mono,
                  int64_t now_wall);
/* Escalation tier `tier` of a's route fires: the incident's DOWN (escalation_tier in the
 * payload) to the tier's notifiers not paged yet, an 'escalated' event. 0 or -ENOMEM. */
int engine_escalate(self_t *self, e_asset_t *a, int tier, const quorum_eval_t *ev,
                    sd_ms_t now_mono, int64_t now_wall);
/* The asset left the manifest: its open incident closes with a 'resolved' event whose
 * reason is "removed from the manifest", and no RECOVERY (nobody is told of a recovery that
 * did not happen). 0 (nothing open: nothing to do) or -ENOMEM. */
int engine_close_removed(self_t *self, e_asset_t *a, int64_t now_wall);

/* engine_journal.c: decisions waiting to be written, applied in the order they were made,
 * each in one transaction with a key that makes a retried commit harmless. */
e_incident_t *engine_incident_new(int64_t started_ms);
e_incident_t *engine_incident_ref(e_incident_t *inc);
void engine_incident_unref(e_incident_t **inc);
/* A new journal entry (what: static, for logs) about asset a and inc (NULL: none; a
 * reference is taken) decided at at_wall. best_effort: a vote/hold event, dropped rather
 * than retried when the database refuses it. NULL on allocation failure. */
e_op_t *engine_op_new(self_t *self, const char *what, e_asset_t *a, e_incident_t *inc,
                      int64_t at_wall, bool best_effort);
/* Frees an entry that was not pushed; accepts NULL. */
void engine_op_destroy(e_op_t **op);
/* Steps of an entry, applied in order in its transaction. Strings are copied; payload is
 * taken (its incident_id is set when written). 0 or -ENOMEM / -E2BIG (too many steps). */
int engine_op_open(e_op_t *op, const char *summary, const char *details_json);
int engine_op_close(e_op_t *op);
int engine_op_event(e_op_t *op, const char *kind, const char *detail_json);
int engine_op_outbox(e_op_t *op, bool down_channels, const char *event, json_t *payload);
int engine_op_flapping(e_op_t *op, bool flapping);
/* An outbox step to the channels names[0..n) (copied) rather than the asset's lists. */
int engine_op_outbox_to(e_op_t *op, const char *const *names, size_t n, const char *event,
                        json_t *payload);
/* Appends op to the journal (ownership passes; NULL is ignored) and flushes it. */
void engine_journal_push(self_t *self, e_op_t *op);
/* Writes what it can, oldest first; stops at the first entry the database cannot take
 * now (retried at the next flush: every decision and every tick). */
void engine_journal_flush(self_t *self);
void engine_journal_clear(self_t *self);
/* The sequence number of the oldest entry not yet written, 0 when the journal is empty. */
uint64_t engine_journal_oldest(const self_t *self);
/* Best-effort incident event (rule 12 votes, rule 17 holds): journaled behind the
 * incident's opening. detail is taken (NULL: {}). */
void engine_incident_event(self_t *self, e_asset_t *a, const char *kind, json_t *detail,
                           int64_t at_wall);

/* engine_agents.c */
void engine_agent_free(void **item);
e_agent_t *engine_agent(self_t *self, const char *id, const char *region);
int engine_agent_apply(self_t *self, e_agent_t *g);
void engine_on_agent(self_t *self, zmsg_t *msg);
void engine_on_skew(self_t *self, zmsg_t *msg);
int64_t engine_skew_of(self_t *self, const char *agent);
void engine_load_agent_cb(const store_agent_row_t *row, void *arg);
/* A RESULTS message of the agent reached the engine: its entry (created on first sight),
 * marked heard (rule 10); NULL past the agent table's bound. */
e_agent_t *engine_agent_heard(self_t *self, const char *id, const char *region);
/* Rule 10, end of a successful rebuild: every agent 'up' in the database that has not been
 * heard yet is awaited for 3 heartbeat periods (its own when longer than the collector's)
 * plus the agents' reconnect backoff from now_mono. */
void engine_agents_rebuilt(self_t *self, sd_ms_t now_mono);
/* Rule 10 on the tick: declares down the awaited agents whose wait ran out, releases the
 * isolation of down agents (rule 13) and commits pending liveness changes. */
void engine_agents_tick(self_t *self, sd_ms_t now_mono, int64_t now_wall);
/* Rule 18 on the tick: forgets the agents gone for good (engine_agents.c). */
void engine_agents_forget(self_t *self, sd_ms_t now_mono);
/* Marks an agent isolated as stored in agents.isolated (rebuild). */
void engine_agent_restore_isolated(self_t *self, const char *agent);
/* True when the agent is isolated (its votes are excluded). */
bool engine_agent_isolated(self_t *self, const char *agent);
/* Rule 13: tallies every agent against the others and commits isolation changes. */
void engine_isolation_tick(self_t *self, sd_ms_t now_mono);

/* engine_incidents.c, rule 17: the incident keeps waiting for its recovery (held: why), a
 * 'recovery_held' event and a count; and a relapse (DOWN during the wait: 'relapsed' event,
 * the same incident goes on, nothing is sent). Both best effort, like the vote events. */
void engine_hold(self_t *self, e_asset_t *a, recovery_verdict_t held, sd_ms_t now_mono,
                 int64_t now_wall);
void engine_relapse(self_t *self, e_asset_t *a, sd_ms_t now_mono, int64_t now_wall);
/* Forgets the wait (the incident closed, the asset is DOWN again, or the engine rebuilds). */
void engine_hold_reset(e_asset_t *a);

/* engine_flapping.c */
/* Rule 15: one result of the asset was applied; closes the check round when complete.
 * True when the asset settled (STABLE) with an open incident: the caller judges it again
 * (asset_rules_flap), so its RECOVERY may go out right after the STABLE. */
bool engine_flap_result(self_t *self, e_asset_t *a, sd_ms_t now_mono);
/* Rule 15 on the tick: closes overdue rounds and retries uncommitted flag changes; returns
 * like engine_flap_result. */
bool engine_flap_tick(self_t *self, e_asset_t *a, sd_ms_t now_mono);

#endif
