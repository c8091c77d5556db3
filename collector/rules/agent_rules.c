/* agent_rules: heartbeat period, silence, clock skew and table bound of agents (see
 * agent_rules.h). */
#include "agent_rules.h"

#include <errno.h>

int64_t agent_heartbeat_ms(int64_t collector_ms, int64_t announced_ms)
{
    int64_t own = collector_ms > 0 ? collector_ms : SD_HEARTBEAT_MS_DEFAULT;
    if (announced_ms >= AGENT_HEARTBEAT_HONOURED_MIN_MS && announced_ms <= SD_HEARTBEAT_MS_MAX &&
        announced_ms > own)
        return announced_ms;
    return own;
}

int64_t agent_silence_ms(int64_t period_ms, int64_t grace_ms)
{
    return SD_SILENT_PERIODS * period_ms + (grace_ms > 0 ? grace_ms : 0);
}

bool agent_silent(int64_t unheard_ms, int64_t period_ms, int64_t grace_ms)
{
    return unheard_ms > agent_silence_ms(period_ms, grace_ms);
}

int agent_skew_add(agent_skew_t *s, int64_t agent_sent_ms, int64_t received_wall_ms)
{
    if (agent_sent_ms <= 0)
        return -EINVAL;
    s->sample[s->next] = agent_sent_ms - received_wall_ms;
    s->next = (s->next + 1) % AGENT_SKEW_SAMPLES;
    if (s->n < AGENT_SKEW_SAMPLES)
        s->n++;
    return 0;
}

int64_t agent_skew_estimate(const agent_skew_t *s)
{
    if (s->n == 0)
        return 0;
    int64_t est = s->sample[0];
    for (int i = 1; i < s->n; i++)
        est = s->sample[i] > est ? s->sample[i] : est;
    return est;
}

bool agent_skew_report(agent_skew_t *s, int64_t now_mono, int64_t *estimate)
{
    if (s->n == 0)
        return false;
    int64_t est = agent_skew_estimate(s);
    int64_t moved = est > s->reported_ms ? est - s->reported_ms : s->reported_ms - est;
    if (s->reported && moved < AGENT_SKEW_REPORT_MS &&
        now_mono - s->reported_mono < AGENT_SKEW_REFRESH_MS)
        return false;
    s->reported = true;
    s->reported_ms = est;
    s->reported_mono = now_mono;
    *estimate = est;
    return true;
}
