"""GET /api/assets/{id} "receivers" (notificationPolicy.routes), and the test button: POST /api/notifiers/{name}/test (write token) and statusd-collector
--test-notifier NAME send a TEST message through the notifier's real channel (the same
request building, libcurl options and answer classification as the notifier's deliveries)
and report the channel's answer. Against a real collector, PostgreSQL and a fake Slack:

  - without a token: 401, nothing sent; an unknown notifier: 404
  - delivered: 200 {"delivered": true, "verdict": "sent", "answer": "HTTP 200: ok"}, and
    exactly one TEST message reached the receiver
  - the receiver answers 404 (a revoked webhook): delivered false, verdict dead, the answer
    quotes it; a 503: verdict retry
  - the command line: exit 0 delivered, 1 not delivered, 2 no such notifier; the secret
    webhook URL never printed
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (COLLECTOR_BIN, check, http_get_json, http_request, log,  # noqa: E402
                     run_test, webhook_url)

TOKEN = "test-button-token-0123456789abcdef"


def post(url, token=None):
    st, text = http_request(url, "POST", b"", {"Authorization": "Bearer " + token} if token
                            else {}, timeout=30)
    return st, json.loads(text or "{}")


def tests_seen(hook):
    """The TEST messages the receiver got (Slack renders them "🧪 TEST <notifier>: ...")."""
    return [m for m in hook.messages() if "TEST" in (m.get("body") or "")]


def main(env):
    pg = env.start_pg()
    slack = env.webhook()
    broken = env.webhook()
    asset = {"assetType": "http", "address": "http://127.0.0.1:9/", "intervalSeconds": 60,
             "timeoutSeconds": 1}
    manifest = {"assets": [dict(asset, id="web", name="Web", metadata={"env": "prod"}),
                           dict(asset, id="dev", name="Dev", metadata={"env": "dev"})]}
    notifiers = {"notifiers": {"slack": {"type": "slack", "webhookUrl": webhook_url(slack)},
                               "revoked": {"type": "slack", "webhookUrl": webhook_url(broken)}},
                 "notificationPolicy": {"onDown": ["slack"], "onRecovery": ["slack"],
                                        "routes": [{"match": {"env": "prod"},
                                                    "onDown": ["slack", "revoked"],
                                                    "onRecovery": ["slack"]}]}}
    npath = env.write_json("notifiers.json", notifiers)
    tokens = env.path("tokens")
    with open(tokens, "w") as f:
        f.write(TOKEN + "\n")
    col = env.start_collector(pg, manifest, npath, extra=["--api-token-file", tokens])
    base = col.api + "/api/notifiers/%s/test"

    # where each asset's pages go (notificationPolicy.routes)
    for aid, want in (("web", {"onDown": ["slack", "revoked"], "onRecovery": ["slack"]}),
                      ("dev", {"onDown": ["slack"], "onRecovery": ["slack"]})):
        got = http_get_json(col.api + "/api/assets/" + aid, timeout=10).get("receivers")
        check(got == want, "GET /api/assets/%s receivers %r (want %r)" % (aid, got, want))

    st, body = post(base % "slack")
    check(st == 401 and tests_seen(slack) == [], "no token: 401, nothing sent (%d %r)"
          % (st, body))
    st, body = post(base % "nope", TOKEN)
    check(st == 404, "unknown notifier: 404 (%d %r)" % (st, body))

    st, body = post(base % "slack", TOKEN)
    log("slack test: %d %r" % (st, body))
    check(st == 200 and body.get("delivered") is True and body.get("verdict") == "sent"
          and body.get("answer") == "HTTP 200: ok" and body.get("type") == "slack",
          "delivered through the real channel: %r" % body)
    slack.wait_for(1, 5)  # the receiver records a request once it has answered it
    check(len(tests_seen(slack)) == 1, "exactly one TEST message reached the receiver (%d)"
          % len(tests_seen(slack)))
    check(webhook_url(slack) not in json.dumps(body), "the webhook URL (a secret) is not shown")

    broken.fail(404, count=1, body=b"no_service")
    st, body = post(base % "revoked", TOKEN)
    log("revoked test: %d %r" % (st, body))
    check(st == 200 and body.get("delivered") is False and body.get("verdict") == "dead"
          and "404" in body.get("answer", "") and "no_service" in body.get("answer", ""),
          "a 404 is reported as dead, quoting the answer: %r" % body)
    broken.fail(503, count=1)
    st, body = post(base % "revoked", TOKEN)
    check(st == 200 and body.get("verdict") == "retry", "a 503 is reported as retry: %r" % body)

    def cli(name):
        p = subprocess.run([COLLECTOR_BIN, "--notifiers", npath, "--test-notifier", name],
                           capture_output=True, text=True, timeout=60)
        log("--test-notifier %s: exit %d: %s%s" % (name, p.returncode, p.stdout.strip(),
                                                    p.stderr.strip()))
        return p
    n0 = len(tests_seen(slack))
    p = cli("slack")
    check(p.returncode == 0 and "delivered" in p.stdout and "HTTP 200" in p.stdout,
          "command line: exit 0, delivered")
    slack.wait_for(n0 + 1, 5)
    check(len(tests_seen(slack)) == n0 + 1, "the command line's TEST reached the receiver")
    check(webhook_url(slack) not in p.stdout + p.stderr, "the webhook URL is not printed")
    broken.fail(404, count=1)
    p = cli("revoked")
    check(p.returncode == 1 and "permanent" in p.stdout, "command line: exit 1 on a 404")
    p = cli("nope")
    check(p.returncode == 2 and "no notifier named" in p.stderr, "command line: exit 2, unknown")


if __name__ == "__main__":
    run_test(main)
