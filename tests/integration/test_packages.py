"""test_packages: the CPack .debs, installed for real into a clean container of the base image.

1. cpack builds statusd-agent_<v>_amd64.deb and statusd-collector_<v>_amd64.deb (gcc build).
2. A fresh debian:bookworm-slim container (host network) runs `apt-get install ./*.deb`:
   every dependency comes from Debian. Checks: both `--version`, conffiles registered, the
   collector's system user and its private notifiers.json/collector.env, units in place.
3. The installed collector (its migrations from /usr/share/statusd/migrations, its
   environment from the edited /etc/statusd/collector.env) runs in the container against a
   private PostgreSQL on the host; the installed agent (environment from /etc/statusd/
   agent.env) runs as an unprivileged user and delivers results of a real HTTP target.
Fails (never skips) when Docker cannot run; does nothing in the sanitizer build (its binaries
need the ASan runtime and are not shippable).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from deploy_common import (http_json, log, main_wrapper, measure, run,  # noqa: E402
                           sanitizer_build, wait_for)
from docker_env import BASE_IMAGE, DockerEnv  # noqa: E402
from debs import build_debs, version  # noqa: E402
from harness import TestEnv, free_port  # noqa: E402


def test(docker, env):
    t0 = time.monotonic()
    debs = build_debs()
    measure("cpack -G DEB", t0)
    for n, p in debs.items():
        log("%s: %d bytes, Depends: %s" % (os.path.basename(p), os.path.getsize(p),
                                          run(["dpkg-deb", "-f", p, "Depends"]).strip()))
    docker.ensure_base_image()
    pg = env.start_pg()
    target = env.target()
    api_port, zmq_port = free_port(), free_port()
    name = "statusd-pkgtest-%d" % os.getpid()
    debdir = os.path.dirname(debs["statusd-agent"])
    run(["docker", "run", "-d", "--rm", "--name", name, "--network", "host",
         "-v", "%s:/debs:ro" % debdir, BASE_IMAGE, "sleep", "3600"])
    try:
        def sh(script, user="root", timeout=600, check=True):
            return run(["docker", "exec", "-u", user, "-e", "DEBIAN_FRONTEND=noninteractive",
                        name, "sh", "-ec", script], timeout=timeout, check=check)

        t0 = time.monotonic()
        v = version()
        sh("cp /debs/statusd-agent_%s_amd64.deb /debs/statusd-collector_%s_amd64.deb /tmp/ && "
           "cd /tmp && apt-get update -q >/dev/null && apt-get install -y -q "
           "--no-install-recommends ./statusd-agent_%s_amd64.deb "
           "./statusd-collector_%s_amd64.deb >/tmp/apt.log 2>&1 || "
           "{ tail -30 /tmp/apt.log; exit 1; }" % (v, v, v, v))
        measure("apt-get install ./statusd-*.deb (deps from Debian)", t0)
        for b in ("statusd-agent", "statusd-collector"):
            out = sh("%s --version" % b).strip()
            if v not in out:
                raise AssertionError("%s --version: %r, want version %s" % (b, out, v))
            log("installed %s --version: %s" % (b, out))
        conf = sh("dpkg-query -W -f='${Conffiles}\\n' statusd-agent statusd-collector")
        for f in ("/etc/statusd/agent.env", "/etc/statusd/collector.env",
                  "/etc/statusd/notifiers.json"):
            if f not in conf:
                raise AssertionError("%s is not a conffile: %r" % (f, conf))
        perms = sh("stat -c '%U:%G %a %n' /etc/statusd/notifiers.json "
                   "/etc/statusd/collector.env; ls /lib/systemd/system/statusd-*.service; "
                   "ls /usr/share/statusd/migrations").split("\n")
        log("installed files: %s" % perms)
        if not all(p.startswith("root:statusd 640") for p in perms[:2]):
            raise AssertionError("collector secrets not root:statusd 0640: %r" % perms[:2])

        # the packaged collector, configured through its environment file
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
           "-e 's|^STATUSD_AGENT_ID=.*|STATUSD_AGENT_ID=pkg-agent|' "
           "-e 's|^STATUSD_REGION=.*|STATUSD_REGION=pkg-region|' "
           "-e 's|^#STATUSD_HEARTBEAT_MS=.*|STATUSD_HEARTBEAT_MS=1000|' /etc/statusd/agent.env"
           % (json.dumps(manifest), json.dumps(notifiers),
              "postgresql://postgres@127.0.0.1:%d/%s" % (pg.port, pg.dbname), api_port, zmq_port,
              zmq_port))
        # as systemd would: the unit's user, the EnvironmentFile's variables, no flags
        t0 = time.monotonic()
        run(["docker", "exec", "-d", "-u", "statusd", "-w", "/", name, "sh", "-c",
             "set -a; . /etc/statusd/collector.env; exec statusd-collector "
             ">/tmp/collector.log 2>&1"])
        api = "http://127.0.0.1:%d" % api_port
        try:
            wait_for(lambda: http_json(api + "/api/health")["status"] == "healthy", 60,
                     "the installed collector's /api/health")
        except AssertionError:
            print(sh("tail -30 /tmp/collector.log", check=False))
            raise
        measure("installed collector healthy", t0)
        t0 = time.monotonic()
        run(["docker", "exec", "-d", "-u", "nobody", "-w", "/", name, "sh", "-c",
             "set -a; . /etc/statusd/agent.env; exec statusd-agent >/tmp/agent.log 2>&1"])

        def delivered():
            for a in http_json(api + "/api/assets"):
                for r in a.get("results") or []:
                    if r.get("agent") == "pkg-agent" and r.get("region") == "pkg-region" \
                            and r.get("success"):
                        return r
            return None
        try:
            r = wait_for(delivered, 60, "a successful result from the installed agent")
        except AssertionError:
            print(sh("tail -30 /tmp/collector.log; tail -30 /tmp/agent.log", check=False))
            raise
        measure("installed agent -> installed collector: first result", t0)
        log("result from the packaged agent: %s" % r)
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
