/* store_decisions: keys of applied engine decisions (see store_decisions.h). */
#include "store_decisions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int store_decisions_lookup(store_t *s, const char *key, bool *found, int64_t *incident_id,
                           char *err, size_t errlen)
{
    const char *params[1] = {key};
    PGresult *r = store_exec(s, "decision lookup",
                             "SELECT COALESCE(incident_id, 0) FROM engine_decisions"
                             " WHERE op_key = $1",
                             1, params, err, errlen);
    if (!r)
        return -EIO;
    *found = PQntuples(r) == 1;
    *incident_id = *found ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

int store_decisions_record(store_t *s, const char *key, int64_t incident_id, char *err,
                           size_t errlen)
{
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, incident_id);
    const char *params[2] = {key, incident_id > 0 ? id : NULL};
    return store_command(s, "decision record",
                         "INSERT INTO engine_decisions (op_key, incident_id)"
                         " VALUES ($1, $2::bigint)",
                         2, params, err, errlen);
}

int store_decisions_prune(store_t *s, int64_t max_age_ms, int64_t *deleted, char *err,
                          size_t errlen)
{
    char age[32];
    snprintf(age, sizeof age, "%" PRId64, max_age_ms);
    const char *params[1] = {age};
    PGresult *r = store_exec(s, "decision prune",
                             "DELETE FROM engine_decisions WHERE applied_at < now() -"
                             " make_interval(secs => $1::double precision / 1000)",
                             1, params, err, errlen);
    if (!r)
        return -EIO;
    if (deleted)
        *deleted = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}
