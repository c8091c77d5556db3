"""test_compose: the docker-compose stack, built and started for real.

docker-compose.yml + deploy/compose.test.yml (stand-ins from Debian packages for postgres,
prometheus and nginx; no registry is reachable here). Brings the stack up with --build, waits
for health, then asserts:
  - the one-shot `keys` service made the CURVE certificates and exited 0; the collector runs
    with CURVE; each agent container sees only its own secret (0600, uid 10001) and the
    collector's public certificate;
  - results from both agents (two regions) are stored in PostgreSQL;
  - /api/assets and the status page answer through nginx (published on 127.0.0.1 only);
  - Prometheus (through nginx, /prometheus/) reports the collector target up and has
    statusd_probe_success series for both regions;
  - an agent the stack did not make (its certificate made with the agent image, as on
    another host) is refused until `docker-compose run -T keys enrol NAME < NAME.cert`, then
    delivers results; `keys revoke NAME` cuts it off again;
  - restarting the collector container loses no result (every agent's sequence numbers are
    stored without a gap and results keep coming);
  - a second `up` runs `keys` again and changes no certificate;
  - `down -v` leaves no container, network or volume of the project.
Fails (never skips) when Docker cannot run. In the sanitizer build it does nothing: the stack
builds its own binaries from source, so the gcc run covers it.
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from deploy_common import (SOURCE_DIR, http_get, http_json, log, main_wrapper,  # noqa: E402
                           measure, run, sanitizer_build, wait_for)
from docker_env import DockerEnv  # noqa: E402

REGIONS = {"eu-west", "us-east"}
AGENTS = {"agent-eu-west", "agent-us-east"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(d):
    # targets reachable inside the stack: the collector itself and nginx in front of it
    manifest = {"assets": [
        {"id": "collector-health", "assetType": "http", "name": "Collector health",
         "address": "http://collector:8080/api/health", "intervalSeconds": 2,
         "timeoutSeconds": 2, "expectedStatusCodes": [200]},
        {"id": "nginx-front", "assetType": "http", "name": "nginx in front",
         "address": "http://nginx/api/health", "intervalSeconds": 2, "timeoutSeconds": 2},
        # ICMP from the non-root agent containers (ping socket, see Dockerfile.agent)
        {"id": "nginx-icmp", "assetType": "icmp", "name": "nginx answers ping",
         "address": "nginx", "intervalSeconds": 2, "timeoutSeconds": 2, "count": 2,
         "intervalMs": 100},
    ]}
    notifiers = {"notifiers": {"hook": {"type": "slack", "webhookUrl": "http://nginx/no-hook"}},
                 "notificationPolicy": {"throttleSeconds": 300, "repeatAlerts": False}}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    with open(os.path.join(d, "notifiers.json"), "w") as f:
        json.dump(notifiers, f, indent=1)
    os.chmod(d, 0o755)
    for n in ("manifest.json", "notifiers.json"):
        os.chmod(os.path.join(d, n), 0o644)


class Stack:
    def __init__(self, docker):
        self.project = "statusdtest%d" % os.getpid()
        self.cfg = tempfile.mkdtemp(prefix="statusd-compose-cfg.")
        write_config(self.cfg)
        self.http_port = free_port()
        self.env = dict(os.environ,
                        COMPOSE_PROJECT_NAME=self.project,
                        STATUSD_CONFIG_DIR=self.cfg,
                        STATUSD_HTTP_PORT=str(self.http_port),
                        STATUSD_ZMQ_PORT=str(free_port()),
                        STATUSD_TAG="test",
                        STATUSD_HEARTBEAT_MS="1000",
                        POSTGRES_PASSWORD="pw-" + secrets.token_hex(8),
                        COMPOSE_INTERACTIVE_NO_CLI="1")
        self.base = docker.compose_base + ["-f", "docker-compose.yml", "-f",
                                           "deploy/compose.test.yml", "-p", self.project]
        self.up = False

    def compose(self, *args, timeout=600, check=True):
        return run(self.base + list(args), timeout=timeout, check=check, cwd=SOURCE_DIR,
                   env=self.env)

    def compose_out(self, *args, stdin=None, timeout=300):
        """docker-compose's stdout alone (its progress lines go to stderr). Without
        COMPOSE_INTERACTIVE_NO_CLI: docker-compose 1.29's own `run` never sees stdin's end."""
        env = dict(self.env)
        env.pop("COMPOSE_INTERACTIVE_NO_CLI", None)
        r = subprocess.run(self.base + list(args), input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd=SOURCE_DIR, env=env)
        if r.returncode != 0:
            raise AssertionError("docker-compose %s: exit %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def cid(self, service):
        out = self.compose("ps", "-q", service).split()
        if not out:
            raise AssertionError("no container for service %s" % service)
        return out[-1]

    def health(self, service):
        return run(["docker", "inspect", "-f", "{{.State.Health.Status}}",
                    self.cid(service)]).strip()

    def psql(self, sql):
        return run(["docker", "exec", "-i", self.cid("postgres"), "psql", "-U", "statusd", "-d",
                    "statusd", "-AtF", "|", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=30)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def logs(self):
        try:
            out = self.compose("logs", "--no-color", "--tail=40", timeout=60, check=False)
            print("=== docker-compose logs (last lines) ===\n" + out, flush=True)
        except Exception as e:  # noqa: BLE001
            print("(no logs: %s)" % e)

    def leftovers(self):
        label = "label=com.docker.compose.project=%s" % self.project
        left = []
        for kind, cmd in (("container", ["docker", "ps", "-aq", "--filter", label]),
                          ("network", ["docker", "network", "ls", "-q", "--filter", label]),
                          ("volume", ["docker", "volume", "ls", "-q", "--filter", label])):
            left += ["%s %s" % (kind, x) for x in run(cmd).split()]
        return left


def per_agent_seqs(stack):
    rows = stack.psql("SELECT agent_id, region, count(*), count(DISTINCT seq), min(seq), max(seq)"
                      " FROM probe_events GROUP BY agent_id, region ORDER BY agent_id")
    out = {}
    for line in rows.split():
        a, region, n, nd, lo, hi = line.split("|")
        out[a] = dict(region=region, n=int(n), distinct=int(nd), lo=int(lo), hi=int(hi))
    return out


def refused(st):
    """statusd_agents_refused_total{reason="unknown_key"} of the collector (through nginx)."""
    body = http_get(st.url("/metrics"))[1].decode()
    m = re.search(r'^statusd_agents_refused_total\{reason="unknown_key"\} (\d+)', body, re.M)
    return int(m.group(1)) if m else 0


def check_keys(st):
    """What the keys service made, and what each container of the stack can see of it."""
    keys = st.cid("keys")
    code = run(["docker", "inspect", "-f", "{{.State.ExitCode}}", keys]).strip()
    if code != "0":
        raise AssertionError("keys service exited %s:\n%s" % (code, run(["docker", "logs", keys])))
    log("keys service: %s" % run(["docker", "logs", keys]).strip().replace("\n", " | "))
    health = http_json(st.url("/api/health"))
    if health.get("agent_transport") != "curve":
        raise AssertionError("collector transport: %r" % health)

    def ls(service, path):
        out = run(["docker", "exec", st.cid(service), "sh", "-c", "ls -ln " + path])
        return {l.split()[-1]: " ".join(l.split()[0:1] + l.split()[2:4])
                for l in out.splitlines() if l.startswith("-")}
    coll = ls("collector", "/keys/collector")
    if coll != {"collector.cert": "-rw-r--r-- 0 0",
                "collector.cert_secret": "-rw------- 10001 10001"}:
        raise AssertionError("collector's /keys/collector: %r" % coll)
    admitted = set(ls("collector", "/keys/agents.d"))
    if admitted != {"%s.cert" % a for a in AGENTS}:
        raise AssertionError("collector's agents.d: %r" % admitted)
    for a in sorted(AGENTS):
        got = ls(a, "/keys")
        want = {"%s.cert" % a: "-rw-r--r-- 0 0", "%s.cert_secret" % a: "-rw------- 10001 10001",
                "collector.cert": "-rw-r--r-- 0 0"}
        if got != want:
            raise AssertionError("%s sees in /keys %r, want only %r" % (a, got, want))
    log("certificates: collector %s; agents.d %s; each agent only its own pair + collector.cert"
        % (coll, sorted(admitted)))


def other_host_agent(st):
    """The enrolment of an agent of another host in docs/deployment.md, with the agent image."""
    d = tempfile.mkdtemp(prefix="statusd-compose-remote.")
    os.chmod(d, 0o777)   # written by the image's user (uid 10001)
    name = "%s-remote-agent" % st.project
    net = run(["docker", "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}"
               "{{end}}", st.cid("collector")]).strip()
    try:
        run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "statusd-keygen",
             "-v", "%s:/out" % d, "statusd/agent:test", "--dir", "/out", "--region", "ap-south",
             "agent-remote"])
        cert = st.compose_out("run", "--rm", "-T", "keys", "collector-cert")
        if "public-key" not in cert or "secret-key" in cert:
            raise AssertionError("keys collector-cert printed %r" % cert)
        with open(os.path.join(d, "collector.cert"), "w") as f:
            f.write(cert)
        os.chmod(os.path.join(d, "collector.cert"), 0o644)
        t0 = time.monotonic()
        r0 = refused(st)
        run(["docker", "run", "-d", "--name", name, "--network", net, "-v", "%s:/keys:ro" % d,
             "-e", "STATUSD_COLLECTOR=tcp://collector:5555",
             "-e", "STATUSD_CERT=/keys/agent-remote.cert_secret",
             "-e", "STATUSD_COLLECTOR_CERT=/keys/collector.cert",
             "-e", "STATUSD_HEARTBEAT_MS=1000", "statusd/agent:test"])
        wait_for(lambda: refused(st) > r0, 60, "the collector refusing the agent not enrolled")
        if "agent-remote" in per_agent_seqs(st):
            raise AssertionError("results of agent-remote stored before its enrolment")
        measure("agent of another host refused before enrolment", t0)
        with open(os.path.join(d, "agent-remote.cert"), "rb") as f:
            said = st.compose_out("run", "--rm", "-T", "keys", "enrol", "agent-remote",
                                  stdin=f.read())
        log("keys enrol: %s" % said.strip())
        with open(os.path.join(d, "agent-remote.cert_secret"), "rb") as f:
            try:
                st.compose_out("run", "--rm", "-T", "keys", "enrol", "leaked", stdin=f.read())
                raise AssertionError("keys enrol accepted a secret certificate")
            except AssertionError as e:
                if "SECRET key" not in str(e):
                    raise
        t0 = time.monotonic()

        def remote_results():
            s = per_agent_seqs(st).get("agent-remote")
            return s and s["region"] == "ap-south" and s["n"] >= 3 and s
        got = wait_for(remote_results, 60, "results of the enrolled agent-remote")
        measure("enrol -> results of the agent of another host", t0)
        log("agent-remote after enrolment: %s" % got)

        t0 = time.monotonic()
        r1 = refused(st)
        st.compose_out("run", "--rm", "-T", "keys", "revoke", "agent-remote")
        wait_for(lambda: refused(st) > r1, 30, "the collector refusing agent-remote once revoked")
        base = per_agent_seqs(st)
        hi = base["agent-remote"]["hi"]
        # a window in which agent-remote would have delivered: the stack's agents deliver
        # at least 6 more results each (2 probe rounds of 3 assets)
        wait_for(lambda: all(per_agent_seqs(st)[a]["n"] >= base[a]["n"] + 6 for a in AGENTS),
                 60, "two more probe rounds of the stack's agents")
        after = per_agent_seqs(st)["agent-remote"]["hi"]
        if after != hi:
            raise AssertionError("agent-remote still stored results after its revocation: "
                                 "seq %d -> %d" % (hi, after))
        measure("revoke -> agent-remote refused, nothing more stored", t0)
        admitted = st.compose_out("run", "--rm", "-T", "keys", "list")
        if "agent-remote" in admitted or len(admitted.splitlines()) != len(AGENTS):
            raise AssertionError("keys list after the revocation: %r" % admitted)
    finally:
        run(["docker", "rm", "-f", name], check=False)
        shutil.rmtree(d, ignore_errors=True)


def test(docker):
    t0 = time.monotonic()
    docker.ensure_base_image()
    measure("base image ready", t0)
    st = Stack(docker)
    try:
        t0 = time.monotonic()
        st.up = True
        # build first with --force-rm: a failed build leaves no stopped container behind
        st.compose("build", "--force-rm", timeout=900)
        measure("compose build --force-rm", t0)
        t0 = time.monotonic()
        st.compose("up", "-d", "--build", timeout=900)
        measure("compose up -d --build", t0)

        # published ports: 127.0.0.1 only
        ports = run(["docker", "ps", "--filter",
                     "label=com.docker.compose.project=%s" % st.project, "--format",
                     "{{.Names}} {{.Ports}}"])
        log("published:\n" + ports.strip())
        for line in ports.splitlines():
            for p in line.split(" ", 1)[1].split(", ") if " " in line else []:
                if "->" in p and not p.startswith("127.0.0.1:"):
                    raise AssertionError("port published beyond 127.0.0.1: %s" % line)
        if "grafana" in ports:
            raise AssertionError("grafana must be left out by deploy/compose.test.yml")

        # the images: non-root, no compiler in the runtime stage, sizes
        for svc, img in (("collector", "statusd/collector:test"), ("agent", "statusd/agent:test")):
            user = run(["docker", "image", "inspect", "-f", "{{.Config.User}}", img]).strip()
            if user in ("", "root", "0"):
                raise AssertionError("%s image runs as root" % img)
            cc = run(["docker", "run", "--rm", "--entrypoint", "sh", img, "-c",
                      "command -v gcc cc cmake make || true"]).strip()
            if cc:
                raise AssertionError("%s runtime image has build tools: %s" % (img, cc))
            size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", img]).strip())
            log("image %s: user %s, no compiler, %.0f MB" % (img, user, size / 1e6))

        t0 = time.monotonic()
        wait_for(lambda: st.health("postgres") == "healthy", 120, "postgres healthy")
        wait_for(lambda: st.health("collector") == "healthy", 180, "collector healthy")
        measure("postgres + collector healthy", t0)

        t0 = time.monotonic()

        def both_agents():
            s = per_agent_seqs(st)
            return set(s) >= AGENTS and {s[a]["region"] for a in AGENTS} == REGIONS and s
        seqs = wait_for(both_agents, 120, "results from both agents in PostgreSQL")
        measure("results from both agents stored", t0)
        log("probe_events per agent: %s" % seqs)
        check_keys(st)

        # the API and status page through nginx
        assets = http_json(st.url("/api/assets"))
        ids = {a["id"] for a in assets} if isinstance(assets, list) else \
            {a["id"] for a in assets.get("assets", [])}
        if ids != {"collector-health", "nginx-front", "nginx-icmp"}:
            raise AssertionError("/api/assets through nginx: unexpected assets %r" % ids)
        stc, page = http_get(st.url("/"))
        if stc != 200 or b"<html" not in page.lower():
            raise AssertionError("status page through nginx: HTTP %d" % stc)
        health = http_json(st.url("/api/health"))
        if health.get("status") != "healthy":
            raise AssertionError("/api/health through nginx: %r" % health)
        log("nginx: /api/assets %r, / %d bytes, /api/health ok" % (sorted(ids), len(page)))
        def icmp_ok():
            a = [x for x in http_json(st.url("/api/assets")) if x["id"] == "nginx-icmp"][0]
            ok = {r["agent"] for r in a.get("results") or [] if r.get("success")}
            return ok >= AGENTS and a["results"]
        res = wait_for(icmp_ok, 60, "successful ICMP results from both agent containers")
        log("icmp from the agent containers: %s" % res)
        try:
            gst = http_get(st.url("/grafana/"), timeout=10)[0]
        except urllib.error.HTTPError as e:
            gst = e.code
        if gst not in (502, 504):
            raise AssertionError("/grafana/ without grafana: HTTP %s, want 502/504" % gst)
        for svc in ("agent-eu-west", "agent-us-east"):
            if st.health(svc) == "unhealthy":
                raise AssertionError("%s container is unhealthy" % svc)

        # Prometheus, through nginx at /prometheus/
        t0 = time.monotonic()

        def target_up():
            t = http_json(st.url("/prometheus/api/v1/targets"))
            act = [x for x in t["data"]["activeTargets"]
                   if x["labels"].get("job") == "statusd-collector"]
            return act and all(x["health"] == "up" for x in act)
        wait_for(target_up, 90, "Prometheus: collector target up")

        def regions_in_prom():
            q = http_json(st.url("/prometheus/api/v1/query?query=statusd_probe_success"))
            got = {r["metric"].get("region") for r in q["data"]["result"]}
            return got >= REGIONS and got
        got = wait_for(regions_in_prom, 90, "Prometheus: statusd_probe_success for both regions")
        groups = http_json(st.url("/prometheus/api/v1/rules"))["data"]["groups"]
        if {g["name"] for g in groups} != {"statusd.recording", "statusd.alerts"}:
            raise AssertionError("Prometheus did not load statusd.rules.yml: %r" % groups)
        measure("Prometheus target up + series for %s" % sorted(got), t0)

        other_host_agent(st)

        # restart the collector: no result lost
        t0 = time.monotonic()
        before = per_agent_seqs(st)
        st.compose("restart", "collector", timeout=120)
        wait_for(lambda: st.health("collector") == "healthy", 180, "collector healthy again")

        def progressed():
            now = per_agent_seqs(st)
            return all(now[a]["hi"] >= before[a]["hi"] + 5 for a in AGENTS) and now
        after = wait_for(progressed, 120, "new results from both agents after the restart")
        measure("collector restart, results flowing again", t0)
        for a in AGENTS:
            s = after[a]
            if s["distinct"] != s["hi"] - s["lo"] + 1 or s["n"] != s["distinct"]:
                raise AssertionError("agent %s: results lost or duplicated across the restart: "
                                     "%r" % (a, s))
            if s["lo"] > before[a]["lo"]:
                raise AssertionError("agent %s: early results vanished: %r -> %r"
                                     % (a, before[a], s))
        log("after restart, per agent (no gap, no duplicate): %s" % after)

        # `up` again runs `keys` again: it must keep every certificate
        def sums():
            return run(["docker", "exec", st.cid("collector"), "sh", "-c",
                        "sha256sum /keys/collector/* /keys/agents.d/*"])
        before_sums = sums()
        started = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", st.cid("keys")])
        st.compose("up", "-d", timeout=300)
        if run(["docker", "inspect", "-f", "{{.State.StartedAt}}", st.cid("keys")]) == started:
            raise AssertionError("`up` did not run the keys service again")
        if sums() != before_sums:
            raise AssertionError("a second `up` changed the certificates:\n%s\n->\n%s"
                                 % (before_sums, sums()))
        log("second `up`: keys ran again (%s), certificates unchanged"
            % run(["docker", "logs", "--tail", "1", st.cid("keys")]).strip())
    except BaseException:
        if st.up:
            st.logs()
        raise
    finally:
        if st.up:
            t0 = time.monotonic()
            st.compose("down", "-v", "--remove-orphans", "-t", "10", timeout=300, check=False)
            measure("compose down -v", t0)
        shutil.rmtree(st.cfg, ignore_errors=True)
    left = st.leftovers()
    if left:
        raise AssertionError("`down -v` left behind: %s" % ", ".join(left))
    log("down -v left no container, network or volume")


def main():
    if sanitizer_build():
        log("sanitizer build: the compose stack builds its own binaries from source, so this "
            "test runs in the gcc build only; nothing to do here")
        return
    with DockerEnv() as docker:
        test(docker)


if __name__ == "__main__":
    main_wrapper(main)
