/* sd_limits: the numbers the agent and the collector must agree on, in one place. Each says
 * who relies on it; a number only one side uses stays in that side's module. */
#ifndef SD_LIMITS_H
#define SD_LIMITS_H

/* Heartbeat period unless configured (--heartbeat-ms of either): the agent's uplink sends
 * one per period; the collector's gateway and engine judge an agent's silence by it. */
#define SD_HEARTBEAT_MS_DEFAULT 5000
/* Longest heartbeat period: the agent's --heartbeat-ms accepts up to it, and the collector
 * (gateway, engine) honours a period announced in a Hello only up to it. */
#define SD_HEARTBEAT_MS_MAX 600000
/* Heartbeat periods of silence after which one side gives the other up: the agent's uplink
 * reconnects, the gateway declares the agent gone, the engine stops counting it as up. */
#define SD_SILENT_PERIODS 3

/* The agent's reconnect backoff, doubling from MIN to MAX (uplink defaults). */
#define SD_RECONNECT_BACKOFF_MIN_MS 200
#define SD_RECONNECT_BACKOFF_MAX_MS 10000
/* What the collector adds to SD_SILENT_PERIODS heartbeats before it calls an agent that was
 * up before a restart down (collector main: restart_grace_ms): a living agent in its longest
 * backoff reconnects within it. */
#define SD_RESTART_GRACE_MS SD_RECONNECT_BACKOFF_MAX_MS

/* Largest frame the agent's uplink packs a ResultBatch into, and the smallest frame limit
 * the collector's gateway may be given (--max-frame-bytes): a larger frame closes the
 * connection, and the agent would resend it forever. */
#define SD_AGENT_FRAME_MAX (1024 * 1024)
/* Most results in one ResultBatch: the agent's --batch-max bound, and the most the gateway's
 * wire check and ingest's store accept. */
#define SD_BATCH_RESULTS_MAX 10000

/* Longest probe interval, seconds: the manifest's intervalSeconds (sd_config), and the
 * interval the gateway accepts from the engine's adaptive intervals (in ms). */
#define SD_PROBE_INTERVAL_MAX_S 86400

/* A limit above as a string literal, for usage texts: SD_LIMIT_STR(SD_HEARTBEAT_MS_DEFAULT). */
#define SD_LIMIT_STR(x) SD_LIMIT_STR_(x)
#define SD_LIMIT_STR_(x) #x

#endif
