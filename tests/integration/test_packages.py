"""test_packages: the CPack .debs, installed for real into a container that boots systemd.

1. cpack builds statusd-common, statusd-agent and statusd-collector _<v>_amd64.deb (gcc build).
2. A container of the base image plus Debian's systemd (built once, then from Docker's build
   cache) boots systemd as PID 1 (host network) and runs `apt-get install ./*.deb`: every
   dependency comes from Debian, and the three packages install side by side. Checks: the
   `--version`s, conffiles registered, the collector's system user and its private
   notifiers.json/collector.env, the certificates the postinsts made (collector: 0600
   statusd:statusd secret, agents.d 0750 root:statusd; agent: 0600 root secret named after
   the host), and that installing the packages again (an upgrade) keeps every certificate.
3. The units run for real under systemd (`systemctl start`), configured by their env files:
   the collector (user statusd, its generated certificate) against a private PostgreSQL on
   the host; the agent (DynamicUser, its secret handed over by LoadCredential=) is refused at
   the handshake until it is enrolled, then enrolment (its agent.cert copied into the
   collector's agents.d) makes it deliver results of a real HTTP target within seconds.
4. Purge removes each package's certificate and leaves the other's.
Fails (never skips) when Docker cannot run; does nothing in the sanitizer build (its binaries
need the ASan runtime and are not shippable).
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from deploy_common import (http_get, http_json, log, main_wrapper, measure,  # noqa: E402
                           run, sanitizer_build, wait_for)
from docker_env import BASE_IMAGE, DockerEnv  # noqa: E402
from debs import NAMES, build_debs, version  # noqa: E402
from harness import TestEnv, free_port  # noqa: E402

SYSTEMD_IMAGE = "statusd-test/systemd:bookworm"
SYSTEMD_DOCKERFILE = """FROM %s
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \\
      --no-install-recommends systemd && rm -rf /var/lib/apt/lists/*
""" % BASE_IMAGE


def systemd_container_opts():
    """docker run options under which systemd runs as PID 1 in a container."""
    common = ["--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker",
              "--stop-signal", "SIGRTMIN+3"]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        # a cgroup v2 host: the usual recipe (a private cgroup namespace, mounted writable)
        return common + ["--privileged", "--cgroupns=private"]
    # cgroup v1/hybrid (our machines, whose VM refuses --privileged): systemd makes its
    # cgroups below the container's own (/docker/<id>/...), which docker removes with it
    return common + ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined",
                     "--security-opt", "apparmor=unconfined",
                     "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]


def cert_meta(text):
    return dict(re.findall(r'^\s+(name|region) = "([^"]*)"', text, re.M))


def refused(api):
    st, body = http_get(api + "/metrics")
    m = re.search(r'^statusd_agents_refused_total\{reason="unknown_key"\} (\d+)',
                  body.decode(), re.M)
    return int(m.group(1)) if m else 0


def test(docker, env):
    t0 = time.monotonic()
    debs = build_debs()
    measure("cpack -G DEB", t0)
    for n, p in debs.items():
        log("%s: %d bytes, Depends: %s" % (os.path.basename(p), os.path.getsize(p),
                                          run(["dpkg-deb", "-f", p, "Depends"]).strip()))
    docker.ensure_base_image()
    t0 = time.monotonic()
    run(["docker", "build", "-q", "-t", SYSTEMD_IMAGE, "-"], input=SYSTEMD_DOCKERFILE.encode(),
        timeout=900)
    measure("image %s (Docker's build cache after the first run)" % SYSTEMD_IMAGE, t0)
    pg = env.start_pg()
    target = env.target()
    api_port, zmq_port = free_port(), free_port()
    name = "statusd-pkgtest-%d" % os.getpid()
    debdir = os.path.dirname(debs["statusd-agent"])
    t0 = time.monotonic()
    run(["docker", "run", "-d", "--rm", "--name", name, "--network", "host",
         "-v", "%s:/debs:ro" % debdir] + systemd_container_opts() +
        [SYSTEMD_IMAGE, "/lib/systemd/systemd"])
    try:
        def sh(script, timeout=600, check=True):
            return run(["docker", "exec", "-e", "DEBIAN_FRONTEND=noninteractive",
                        name, "sh", "-ec", script], timeout=timeout, check=check)

        def journal():
            print(sh("journalctl --no-pager -n 60 -u statusd-collector -u statusd-agent",
                     check=False), flush=True)

        state = wait_for(lambda: sh("systemctl is-system-running", check=False).strip()
                         in ("running", "degraded") and sh("systemctl is-system-running",
                                                           check=False).strip(),
                         60, "systemd booted in the container")
        # systemd leaves mount propagation to the container manager; credentials need it
        sh("mount --make-rshared /")
        measure("container booted systemd (%s)" % state, t0)

        t0 = time.monotonic()
        v = version()
        files = " ".join("./%s_%s_amd64.deb" % (n, v) for n in NAMES)
        sh("cp /debs/*_%s_amd64.deb /tmp/ && cd /tmp && apt-get update -q >/dev/null && "
           "apt-get install -y -q --no-install-recommends %s >/tmp/apt.log 2>&1 || "
           "{ tail -30 /tmp/apt.log; exit 1; }" % (v, files))
        measure("apt-get install ./statusd-*.deb (deps from Debian)", t0)
        log("postinst said: %s" % sh("grep '^statusd-' /tmp/apt.log || true").strip())
        for b in ("statusd-agent", "statusd-collector"):
            out = sh("%s --version" % b).strip()
            if v not in out:
                raise AssertionError("%s --version: %r, want version %s" % (b, out, v))
            log("installed %s --version: %s" % (b, out))
        owner = sh("dpkg -S /usr/bin/statusd-keygen").strip()
        if not owner.startswith("statusd-common:"):
            raise AssertionError("statusd-keygen comes from %r, want statusd-common" % owner)
        conf = sh("dpkg-query -W -f='${Conffiles}\\n' statusd-agent statusd-collector")
        for f in ("/etc/statusd/agent.env", "/etc/statusd/collector.env",
                  "/etc/statusd/notifiers.json"):
            if f not in conf:
                raise AssertionError("%s is not a conffile: %r" % (f, conf))

        # what the postinsts made: the collector's and the agent's certificates
        want = {"/etc/statusd/notifiers.json": "root:statusd 640",
                "/etc/statusd/collector.env": "root:statusd 640",
                "/etc/statusd/collector.cert_secret": "statusd:statusd 600",
                "/etc/statusd/collector.cert": "root:root 644",
                "/etc/statusd/agents.d": "root:statusd 750",
                "/etc/statusd/agent.cert_secret": "root:root 600",
                "/etc/statusd/agent.cert": "root:root 644"}
        got = {}
        for line in sh("stat -c '%%U:%%G %%a %%n' %s" % " ".join(want)).splitlines():
            ug, mode, path = line.split(" ", 2)
            got[path] = "%s %s" % (ug, mode)
        log("installed files: %s" % got)
        for f, w in want.items():
            if got.get(f) != w:
                raise AssertionError("%s: %r, want %r" % (f, got.get(f), w))
        if sh("ls -A /etc/statusd/agents.d").strip():
            raise AssertionError("agents.d is not empty after installation")
        host = sh("uname -n").strip()
        agent_name = re.sub(r"[^A-Za-z0-9._@:-]", "-", host)[:128]
        meta = cert_meta(sh("cat /etc/statusd/agent.cert"))
        if meta != {"name": agent_name}:
            raise AssertionError("agent.cert metadata %r, want name %r (the host name %r) and "
                                 "no region" % (meta, agent_name, host))
        if cert_meta(sh("cat /etc/statusd/collector.cert")) != {"name": "collector"}:
            raise AssertionError("collector.cert metadata: %r"
                                 % sh("cat /etc/statusd/collector.cert"))
        sums = sh("sha256sum /etc/statusd/*.cert /etc/statusd/*.cert_secret")
        t0 = time.monotonic()
        sh("cd /tmp && dpkg -i %s >/tmp/dpkg.log 2>&1 || { tail -30 /tmp/dpkg.log; exit 1; }"
           % files)
        measure("dpkg -i again (upgrade path)", t0)
        again = sh("sha256sum /etc/statusd/*.cert /etc/statusd/*.cert_secret")
        if again != sums or len(sums.splitlines()) != 4:
            raise AssertionError("certificates changed by reinstalling:\n%s\n->\n%s"
                                 % (sums, again))
        log("reinstalled: the 4 certificate files are unchanged")

        # the collector, as its unit runs it, configured through its environment file
        manifest = {"assets": [{"id": "pkg-target", "assetType": "http", "name": "pkg target",
                                "address": target.url("/health"), "intervalSeconds": 1,
                                "timeoutSeconds": 1}]}
        notifiers = {"notifiers": {"hook": {"type": "slack",
                                            "webhookUrl": "http://127.0.0.1:9/none"}}}
        sh("cat > /etc/statusd/manifest.json <<'EOF'\n%s\nEOF\n"
           "cat > /etc/statusd/notifiers.json <<'EOF'\n%s\nEOF\n"
           "sed -i -e 's|^STATUSD_DB=.*|STATUSD_DB=%s|' "
           "-e 's|^#STATUSD_API_PORT=.*|STATUSD_API_PORT=%d|' "
           "-e 's|^#STATUSD_API_BIND=.*|STATUSD_API_BIND=127.0.0.1|' "
           "-e 's|^#STATUSD_BIND=.*|STATUSD_BIND=tcp://127.0.0.1:%d|' "
           "-e 's|^#STATUSD_HEARTBEAT_MS=.*|STATUSD_HEARTBEAT_MS=1000|' "
           "/etc/statusd/collector.env\n"
           "sed -i -e 's|^STATUSD_COLLECTOR=.*|STATUSD_COLLECTOR=tcp://127.0.0.1:%d|' "
           "-e 's|^#STATUSD_REGION=.*|STATUSD_REGION=pkg-region|' "
           "-e 's|^#STATUSD_HEARTBEAT_MS=.*|STATUSD_HEARTBEAT_MS=1000|' /etc/statusd/agent.env"
           % (json.dumps(manifest), json.dumps(notifiers),
              "postgresql://postgres@127.0.0.1:%d/%s" % (pg.port, pg.dbname), api_port, zmq_port,
              zmq_port))
        t0 = time.monotonic()
        sh("systemctl start statusd-collector")
        api = "http://127.0.0.1:%d" % api_port
        try:
            health = wait_for(lambda: http_json(api + "/api/health")["status"] == "healthy" and
                              http_json(api + "/api/health"), 60,
                              "the collector unit's /api/health")
        except AssertionError:
            journal()
            raise
        measure("collector unit healthy", t0)
        if health.get("agent_transport") != "curve":
            raise AssertionError("collector unit's transport: %r" % health)

        def main_pid_uid(unit):
            pid = sh("systemctl show -p MainPID --value %s" % unit).strip()
            uid = sh("awk '/^Uid:/ {print $2}' /proc/%s/status" % pid).strip()
            user = sh("getent passwd %s | cut -d: -f1 || echo uid-%s" % (uid, uid)).strip()
            return pid, uid, user
        pid, uid, user = main_pid_uid("statusd-collector")
        if user != "statusd":
            raise AssertionError("statusd-collector runs as %s (uid %s), want statusd" % (user, uid))

        # the agent unit before enrolment: refused at the handshake, nothing stored
        t0 = time.monotonic()
        r0 = refused(api)
        sh("systemctl start statusd-agent")
        try:
            n = wait_for(lambda: refused(api) > r0 and refused(api), 30,
                         "the collector refusing the agent that is not enrolled yet")
        except AssertionError:
            journal()
            raise
        measure("agent unit refused before enrolment (%d refusals)" % (n - r0), t0)

        def delivered():
            for a in http_json(api + "/api/assets"):
                for r in a.get("results") or []:
                    if r.get("agent") == agent_name and r.get("region") == "pkg-region" \
                            and r.get("success"):
                        return r
            return None
        if delivered():
            raise AssertionError("a result of the agent was stored before it was enrolled")
        pid, uid, user = main_pid_uid("statusd-agent")
        environ = sh("tr '\\0' '\\n' < /proc/%s/environ | grep '^STATUSD_CERT='" % pid).strip()
        if uid == "0" or environ != \
                "STATUSD_CERT=/run/credentials/statusd-agent.service/agent.cert_secret":
            raise AssertionError("agent unit: uid %s, %s" % (uid, environ))
        log("agent unit: pid %s uid %s (dynamic user), %s" % (pid, uid, environ))

        # enrolment: the agent's public certificate into the collector's agents.d
        t0 = time.monotonic()
        sh("cp /etc/statusd/agent.cert /etc/statusd/agents.d/%s.cert" % agent_name)
        try:
            r = wait_for(delivered, 60, "a successful result from the enrolled agent unit")
        except AssertionError:
            journal()
            raise
        measure("enrolment -> first stored result of the agent unit", t0)
        log("result from the packaged agent: %s" % r)
        active = sh("systemctl is-active statusd-agent statusd-collector", check=False).split()
        if active != ["active", "active"]:
            raise AssertionError("units not active: %r" % active)

        # purge: each package's certificate goes with it, the other's stays
        sh("systemctl stop statusd-agent statusd-collector")
        sh("apt-get purge -y -q statusd-agent >/tmp/purge.log 2>&1")
        left = sh("ls /etc/statusd").split()
        if "agent.cert" in left or "agent.cert_secret" in left or "collector.cert_secret" not in left:
            raise AssertionError("after purging statusd-agent, /etc/statusd holds %r" % left)
        sh("apt-get purge -y -q statusd-collector >/tmp/purge.log 2>&1")
        left = sh("ls -A /etc/statusd; ls -A /etc/statusd/agents.d").split()
        if left != ["agents.d", "%s.cert" % agent_name]:
            raise AssertionError("after purging both, left in /etc/statusd: %r (want only the "
                                 "enrolled agent's certificate)" % left)
        log("purge: each package removed its own certificate; agents.d kept %r" % left[1:])
    finally:
        run(["docker", "rm", "-f", name], check=False)
    if run(["docker", "ps", "-aq", "--filter", "name=" + name]).strip():
        raise AssertionError("container %s left behind" % name)


def main():
    if sanitizer_build():
        log("sanitizer build: the packages are built and tested from the gcc build; "
            "nothing to do here")
        return
    env = TestEnv("packages")
    try:
        with DockerEnv() as docker:
            test(docker, env)
    except BaseException:
        env.failed = True
        env.dump_logs()
        raise
    finally:
        env.cleanup()


if __name__ == "__main__":
    main_wrapper(main)
