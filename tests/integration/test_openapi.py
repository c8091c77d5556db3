"""docs/openapi.json, the API's OpenAPI 3.1 document, against a real validator and the
collector.

  1. the document is valid OpenAPI 3.1 by @seriousme/openapi-schema-validator (npm, the
     version pinned below, installed into the build tree): the test FAILS when it cannot be
     installed; and the validator refuses a broken copy (so it can fail)
  2. the collector serves the file's exact bytes on GET /api/openapi.json (application/json)
  3. the response check of the harness (tests/lib/openapi_check.py, run by run_test on every
     API answer an integration test receives) refuses what the document does not describe:
     a wrong field type, a field the code does not send, a missing field, an undocumented
     route, status, method or content type; and passes what it does describe
  4. a tour of the read routes, each answer checked against the document by run_test
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import openapi_check  # noqa: E402
from harness import (SOURCE_DIR, check, http_get, http_get_json,  # noqa: E402
                     http_request, log, run_test)
from npm_pkg import npm_package  # noqa: E402

VALIDATOR = "@seriousme/openapi-schema-validator"
VALIDATOR_VERSION = "2.11.0"
DOC = os.path.join(SOURCE_DIR, "docs", "openapi.json")


def validator_cli():
    """validate-api of VALIDATOR_VERSION under the build tree, installed when missing."""
    pkg = npm_package(VALIDATOR, VALIDATOR_VERSION, "npm-openapi-validator")
    cli = os.path.join(pkg, "bin", "validate-api-cli.js")
    check(os.path.exists(cli), "validator %s@%s at %s" % (VALIDATOR, VALIDATOR_VERSION, cli))
    return cli


def validate(cli, path):
    """(valid, output) of validate-api on path."""
    r = subprocess.run(["node", cli, path], capture_output=True, text=True, timeout=120)
    out = (r.stdout + r.stderr).strip()
    try:
        valid = json.loads(r.stdout).get("valid") is True
    except ValueError:
        valid = False
    return valid and r.returncode == 0, out


def main(env):
    # 1. the document, by a real OpenAPI 3.1 validator
    cli = validator_cli()
    valid, out = validate(cli, DOC)
    check(valid, "docs/openapi.json is valid OpenAPI 3.1 (%s): %s" % (VALIDATOR, out[:2000]))
    with open(DOC, "rb") as f:
        raw = f.read()
    doc = json.loads(raw)
    check(doc["openapi"] == "3.1.0", "the document is OpenAPI 3.1.0")
    broken = json.loads(raw)
    del broken["info"]
    broken["paths"]["/api/agents"]["get"]["responses"]["200"] = {"content": 7}
    bpath = env.write_json("broken-openapi.json", broken)
    valid, out = validate(cli, bpath)
    check(not valid, "the validator refuses a broken copy (no info, a bad response): %s"
          % out[:300].replace("\n", " "))

    # 2. served by the collector, byte for byte
    pg = env.start_pg()
    manifest = {"assets": [{"id": "web", "name": "Web", "assetType": "http",
                            "address": "http://127.0.0.1:9/", "intervalSeconds": 60,
                            "timeoutSeconds": 1}]}
    col = env.start_collector(pg, manifest, {"notifiers": {}})
    st, body = http_get(col.api + "/api/openapi.json")
    check(st == 200 and body.encode() == raw,
          "GET /api/openapi.json: 200 with docs/openapi.json's %d bytes" % len(raw))
    import urllib.request
    with urllib.request.urlopen(col.api + "/api/openapi.json", timeout=5) as r:
        check(r.headers.get("Content-Type") == "application/json",
              "Content-Type: application/json (%s)" % r.headers.get("Content-Type"))

    # 3. the response check can fail
    spec = openapi_check.load()
    agent = {"id": "a1", "region": "eu", "version": "0.1.0",
             "firstSeen": "2026-12-01T00:00:00.000Z", "lastSeen": "2026-12-01T00:00:01.000Z",
             "connected": True, "clockSkewMs": 3, "up": True, "isolated": False,
             "isolatedSince": None}
    J = "application/json"
    good = spec.check("GET", "/api/agents", 200, J, json.dumps([agent]))
    check(good == [], "a well-formed GET /api/agents answer passes (%s)" % good)
    cases = [
        ("a wrong field type (clockSkewMs a string)",
         ("GET", "/api/agents", 200, J, json.dumps([dict(agent, clockSkewMs="3")]))),
        ("a field the code does not send",
         ("GET", "/api/agents", 200, J, json.dumps([dict(agent, extra=1)]))),
        ("a missing field",
         ("GET", "/api/agents", 200, J, json.dumps([{k: v for k, v in agent.items()
                                                     if k != "up"}]))),
        ("null where the document allows none",
         ("GET", "/api/agents", 200, J, json.dumps([dict(agent, region=None)]))),
        ("an error without its message",
         ("GET", "/api/assets/x", 404, J, json.dumps({"message": "no"}))),
        ("an undocumented route", ("GET", "/api/nope", 404, J, '{"error":"not found"}')),
        ("an undocumented status", ("GET", "/api/agents", 418, J, '{"error":"teapot"}')),
        ("an undocumented method answered 200", ("PUT", "/api/agents", 200, J, "[]")),
        ("an undocumented content type", ("GET", "/api/agents", 200, "text/plain", "[]")),
        ("a body that is not JSON", ("GET", "/api/agents", 200, J, "[")),
    ]
    for what, args in cases:
        problems = spec.check(*args)
        check(problems != [], "refused: %s: %s" % (what, problems[:1]))
    check(spec.check("DELETE", "/api/agents", 405, J, '{"error":"method not allowed"}') == [],
          "a 405 to a method the route does not list passes")
    # ... and run_test's check of the recorded answers fails on one
    harness._api_responses.append(("GET", "/api/agents", 200, J,
                                   json.dumps([dict(agent, clockSkewMs=None)])))
    try:
        harness.check_api_responses()
        refused = None
    except AssertionError as e:
        refused = str(e)
    finally:
        harness._api_responses.pop()
    check(refused and "clockSkewMs" in refused,
          "run_test's check fails on a recorded answer the document refuses: %s"
          % (refused or "").replace("\n", " ")[:200])

    # 4. a tour of the routes (each answer is checked by run_test against the document)
    for path in ("/api/health", "/api/assets", "/api/assets/web", "/api/assets/web/events",
                 "/api/assets/web/uptime", "/api/incidents?state=all", "/api/agents",
                 "/api/maintenance"):
        http_get_json(col.api + path)
    for path, want in (("/api/assets/nope", 404), ("/api/assets/web/events?limit=0", 400),
                       ("/api/incidents/99", 404), ("/api/incidents?state=x", 400),
                       ("/api/assets/web/uptime?from=x", 400)):
        st, _ = http_get(col.api + path)
        check(st == want, "GET %s -> %d" % (path, st))
    st, _ = http_request(col.api + "/api/maintenance", "POST", {"end": "2099-01-01T00:00:00Z"})
    check(st == 403, "POST /api/maintenance without a token file: 403")
    st, _ = http_request(col.api + "/api/agents", "DELETE")
    check(st == 405, "DELETE /api/agents: 405")
    st, text = http_get(col.api + "/metrics")
    check(st == 200 and "statusd_api_requests_total" in text, "GET /metrics")
    st, _ = http_get(col.api + "/")
    check(st == 200, "GET /")


if __name__ == "__main__":
    run_test(main)
