"""A fake PagerDuty Events API v2 endpoint for tests (stdlib only, /usr/bin/python3).

Speaks the protocol as PagerDuty documents it: POST JSON to /v2/enqueue with routing_key
(32 characters), event_action (trigger, acknowledge, resolve), dedup_key (at most 255
characters; required for acknowledge and resolve) and, for a trigger, payload with summary
(at most 1024 characters), source and severity (critical, error, warning, info).
  * valid: 202 {"status":"success","message":"Event processed","dedup_key":KEY}
  * invalid: 400 {"status":"invalid event","message":"Event object is invalid","errors":[..]}
  * another path: 404
Alerts are kept like PagerDuty keeps them: a trigger opens the alert of its dedup_key (or
merges into the open one), acknowledge and resolve act on an open alert and are dropped (still
202) when none is open under that key; a trigger after a resolve opens a new alert. Each
recorded request carries "alert": the key's state after it (triggered, acknowledged, resolved,
or null) and "dropped". Scripted answers (fail()) come first: 429 answers PagerDuty's throttle
body, with a Retry-After header when given.

CLI: python3 fake_pagerduty.py --port 0 --log /tmp/pd.jsonl [--fail 429:1:2] [--fail 500:1]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_scripted import ScriptedFake, main  # noqa: E402

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


def _errors(doc):
    """The errors PagerDuty would list for this event, [] when it is valid."""
    if not isinstance(doc, dict):
        return ["Event object is not a JSON object"]
    errs = []
    key = doc.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errs.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = doc.get("event_action")
    if action not in ACTIONS:
        errs.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = doc.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errs.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errs.append("'dedup_key' is required for %s events" % action)
    if action == "trigger":
        p = doc.get("payload")
        if not isinstance(p, dict):
            errs.append("'payload' is missing or not an object")
        else:
            s = p.get("summary")
            if not isinstance(s, str) or not s or len(s) > 1024:
                errs.append("'payload.summary' must be 1 to 1024 characters")
            if not isinstance(p.get("source"), str) or not p.get("source"):
                errs.append("'payload.source' is missing")
            if p.get("severity") not in SEVERITIES:
                errs.append("'payload.severity' is invalid (must be one of: %s)"
                            % ", ".join(SEVERITIES))
    return errs


class FakePagerDuty(ScriptedFake):
    scripted_bodies = {
        429: json.dumps({"status": "throttle event", "message": "Requests for this service "
                         "are arriving too quickly. Please retry later."}),
        500: "",
    }

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.alerts = {}   # dedup_key -> triggered | acknowledged | resolved

    def url(self, path="/v2/enqueue"):
        return super().url(path)

    def answer(self, path, headers, raw, doc):
        if path != "/v2/enqueue":
            return 404, b'{"status":"not found"}', {}
        errs = _errors(doc)
        if errs:
            return 400, json.dumps({"status": "invalid event",
                                    "message": "Event object is invalid",
                                    "errors": errs}).encode(), {}
        key = doc.get("dedup_key") or "generated-%d" % len(self.alerts)
        action, dropped = doc["event_action"], False
        with self._lock:
            state = self.alerts.get(key)
            if action == "trigger":
                if state not in ("triggered", "acknowledged"):
                    self.alerts[key] = "triggered"
            elif state in ("triggered", "acknowledged"):
                self.alerts[key] = "acknowledged" if action == "acknowledge" else "resolved"
            else:
                dropped = True
            state = self.alerts.get(key)
        out = {"status": "success", "message": "Event processed", "dedup_key": key}
        return 202, json.dumps(out).encode(), {"alert": state, "dropped": dropped}


if __name__ == "__main__":
    sys.exit(main(FakePagerDuty, "fake PagerDuty Events API v2"))
