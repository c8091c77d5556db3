"""test_systemd_units: the two systemd units, as the .debs install them, pass
`systemd-analyze verify` (offline, in a root made of the packages' files plus the host's own
unit files) with no warning at all, carry the hardening the issue asks for (and the agent's
certificate handed over by LoadCredential=), and score "OK" or better in
`systemd-analyze security --offline=true`. test_packages.py runs both units for real.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from deploy_common import log, main_wrapper, sanitizer_build  # noqa: E402
from debs import build_debs, extract  # noqa: E402

UNITDIR = "lib/systemd/system"
COMMON = {"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
          "ProtectHome": "yes", "PrivateTmp": "yes", "DynamicUser": "yes"}
WANT = {
    "statusd-agent.service": dict(COMMON, AmbientCapabilities="CAP_NET_RAW",
                                  CapabilityBoundingSet="CAP_NET_RAW",
                                  StateDirectory="statusd-agent",
                                  EnvironmentFile="/etc/statusd/agent.env",
                                  # the secret certificate (0600 root) for the dynamic user
                                  LoadCredential="agent.cert_secret:"
                                                 "/etc/statusd/agent.cert_secret",
                                  Environment="STATUSD_CERT=%d/agent.cert_secret"),
    "statusd-collector.service": dict(COMMON, AmbientCapabilities="", CapabilityBoundingSet="",
                                      EnvironmentFile="/etc/statusd/collector.env"),
}


def parse(path):
    kv = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
            if m:
                kv[m.group(1)] = m.group(2)
    return kv


def main():
    if not shutil.which("systemd-analyze"):
        raise AssertionError("systemd-analyze not found: install Debian's systemd package")
    if sanitizer_build():
        log("sanitizer build: units are checked from the gcc build's packages; nothing to do")
        return
    debs = build_debs()
    root = tempfile.mkdtemp(prefix="statusd-units.")
    try:
        extract(debs, root)
        # the host's units (sysinit.target, ...) so that dependencies resolve offline
        subprocess.run(["cp", "-an", "/lib/systemd/system/.", os.path.join(root, UNITDIR)],
                       check=True)
        for unit, want in WANT.items():
            path = os.path.join(root, UNITDIR, unit)
            kv = parse(path)
            for k, v in want.items():
                if kv.get(k) != v:
                    raise AssertionError("%s: %s=%r, want %r" % (unit, k, kv.get(k), v))
            exe = kv["ExecStart"].split()[0]
            if not os.path.exists(os.path.join(root, exe.lstrip("/"))):
                raise AssertionError("%s: ExecStart %s is not in the package" % (unit, exe))
            # commands the unit borrows from the system (ExecReload's /bin/kill, from procps,
            # a dependency of the package): taken from the host, as an installed system has them
            for key in ("ExecReload", "ExecStop"):
                cmd = kv.get(key, "").split()[0] if kv.get(key) else None
                if cmd and not os.path.exists(os.path.join(root, cmd.lstrip("/"))):
                    if not os.path.exists(cmd):
                        raise AssertionError("%s: %s %s is neither in the package nor on this "
                                             "system" % (unit, key, cmd))
                    dst = os.path.join(root, cmd.lstrip("/"))
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copy2(cmd, dst)
            envf = kv["EnvironmentFile"].lstrip("-")
            if not os.path.exists(os.path.join(root, envf.lstrip("/"))):
                raise AssertionError("%s: EnvironmentFile %s is not in the package" % (unit, envf))
            r = subprocess.run(["systemd-analyze", "verify", "--root=" + root, unit],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out = r.stdout.decode(errors="replace").strip()
            if r.returncode != 0 or out:
                raise AssertionError("systemd-analyze verify %s: exit %d, output:\n%s"
                                     % (unit, r.returncode, out))
            log("systemd-analyze verify %s: clean" % unit)
            r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                                "--root=" + root, unit], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            out = r.stdout.decode(errors="replace")
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", out)
            if not m:
                raise AssertionError("systemd-analyze security %s: no score:\n%s" % (unit, out))
            log("systemd-analyze security %s: %s %s" % (unit, m.group(1), m.group(2)))
            if float(m.group(1)) > 4.0:
                raise AssertionError("%s: exposure %s, want <= 4.0 (OK)" % (unit, m.group(1)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main_wrapper(main)
