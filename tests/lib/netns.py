"""netns: throw-away Linux network topologies for process-level tests (stdlib only, root).

    from netns import Topology
    topo = Topology(env)                    # namespaces "sd-<pid>-<role>", cleaned up with env
    topo.add_node("col", ["10.77.0.2"])     # namespace + veth into the core bridge + addresses
    topo.add_node("r1", ["10.77.0.11"])
    p = env.proc("x", topo.argv("r1", ["curl", ...]))   # a process inside a namespace
    topo.cut("r1", "10.77.0.3")             # blackhole route: r1 can no longer reach .3
    topo.restore("r1", "10.77.0.3")
    status, body = topo.http_get("col", "http://10.77.0.2:8080/api/health")

Layout: one "core" namespace holds a Linux bridge (br0); every node is a namespace with one
veth (eth0 inside, v-<role> on the bridge) and its addresses in one /24 (10.77.0.0/24 by
default). Every address lives inside these namespaces; the root namespace gets no interface,
route or address, so nothing the test does can reach outside them.

A path is cut with a /32 blackhole (or prohibit / unreachable) route in the source node: it
is more specific than the connected /24, so only that destination is affected, and the kernel
drops the packets at once (no netem is needed, none is available).

Cleanup: Topology registers itself with the harness TestEnv (env.servers), so env.cleanup()
(normal end, failure, SIGTERM/SIGINT) kills whatever still runs in its namespaces and deletes
them. A detached watchdog does the same if the test process is SIGKILLed, and every new
Topology first removes the namespaces of earlier runs whose test process is gone.
If `ip netns add` is not permitted, Topology() raises NetnsUnavailable with the reason.
"""
import os
import re
import signal
import subprocess
import sys
import time

NS_PREFIX = "sd-"
_LEFTOVER_RE = re.compile(r"^sd-(\d+)-[a-z0-9]+$")


class NetnsUnavailable(RuntimeError):
    """`ip netns add` (or another step of building a topology) is not permitted here."""


def _ip(args, check=True, timeout=20):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                   (r.stderr or r.stdout).strip()))
    return r


def list_namespaces():
    """Names of every network namespace (`ip netns list`, first word of each line)."""
    r = _ip(["netns", "list"], check=False)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]


def _ns_pids(ns):
    r = _ip(["netns", "pids", ns], check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def kill_and_delete(ns):
    """SIGKILLs every process in namespace `ns` and deletes it; returns the pids killed."""
    killed = []
    for _ in range(50):
        pids = [p for p in _ns_pids(ns) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    _ip(["netns", "del", ns], check=False)
    return killed


def _pid_is_test(pid):
    """True when pid runs (and is not a zombie): its namespaces are not leftovers."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def clean_leftovers(log=print):
    """Deletes namespaces "sd-<pid>-*" whose test process <pid> is gone (a killed run)."""
    gone = []
    for ns in list_namespaces():
        m = _LEFTOVER_RE.match(ns)
        if m and int(m.group(1)) != os.getpid() and not _pid_is_test(int(m.group(1))):
            killed = kill_and_delete(ns)
            gone.append(ns)
            log("removed leftover namespace %s (killed pids %s)" % (ns, killed or "none"))
    return gone


# Runs detached: when the test process dies without cleaning up (SIGKILL), kill what runs in
# its namespaces and delete them. argv: test pid, namespace prefix, path of this module.
_WATCHDOG = r"""
import os, sys, time
pid, prefix, libdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, libdir)
import netns
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    if not any(n.startswith(prefix) for n in netns.list_namespaces()):
        sys.exit(0)
    time.sleep(0.5)
for n in netns.list_namespaces():
    if n.startswith(prefix):
        netns.kill_and_delete(n)
"""


class Topology:
    """Namespaces on one bridge. Roles are short lowercase names ([a-z0-9], at most 8)."""

    def __init__(self, env=None, subnet="10.77.0", log=print):
        self.log = log
        self.prefix = "%s%d-" % (NS_PREFIX, os.getpid())
        self.subnet = subnet
        self.hba_net = "%s.0/24" % subnet
        self.nodes = {}            # role -> [addresses]
        self.pgs = []              # clusters started by start_pg: stopped before the kill
        self.cuts = set()          # (role, dst, kind)
        self._created = []
        self._destroyed = False
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root (euid %d)" % os.geteuid())
        clean_leftovers(log)
        self.core = self.ns("core")
        r = _ip(["netns", "add", self.core], check=False)
        if r.returncode != 0:
            raise NetnsUnavailable("`ip netns add %s` is not permitted here: %s"
                                   % (self.core, (r.stderr or r.stdout).strip()))
        self._created.append(self.core)
        if env is not None:
            env.servers.append(self)   # env.cleanup() calls stop()
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), self.prefix,
             os.path.dirname(os.path.abspath(__file__))],
            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _ip(["-n", self.core, "link", "set", "lo", "up"])
            _ip(["-n", self.core, "link", "add", "br0", "type", "bridge"])
            _ip(["-n", self.core, "link", "set", "br0", "up"])
        except RuntimeError as e:
            self.stop()
            raise NetnsUnavailable("cannot build the core bridge: %s" % e)

    def ns(self, role):
        return self.prefix + role

    def add_node(self, role, addrs, prefixlen=24):
        """A namespace for `role` with eth0 on the core bridge carrying `addrs`."""
        if not re.match(r"^[a-z0-9]{1,8}$", role) or role == "core" or role in self.nodes:
            raise ValueError("bad or duplicate role %r" % role)
        ns = self.ns(role)
        _ip(["netns", "add", ns])
        self._created.append(ns)
        _ip(["-n", ns, "link", "set", "lo", "up"])
        _ip(["-n", self.core, "link", "add", "v-" + role, "type", "veth",
             "peer", "name", "eth0", "netns", ns])
        _ip(["-n", self.core, "link", "set", "v-" + role, "master", "br0", "up"])
        for a in addrs:
            _ip(["-n", ns, "addr", "add", "%s/%d" % (a, prefixlen), "dev", "eth0"])
        _ip(["-n", ns, "link", "set", "eth0", "up"])
        self.nodes[role] = list(addrs)
        return ns

    def argv(self, role, argv):
        """The command line that runs argv inside role's namespace (ip netns exec execs it
        in place, so the pid is the program's own and signals reach it directly)."""
        return ["ip", "netns", "exec", self.ns(role)] + [str(a) for a in argv]

    def run(self, role, argv, timeout=30, check=True):
        r = subprocess.run(self.argv(role, argv), capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("in %s: %s: exit %d: %s" % (role, " ".join(map(str, argv)),
                                                           r.returncode, r.stderr.strip()))
        return r

    def http_get(self, role, url, timeout=5.0):
        """GET url with curl inside role's namespace; returns (status, body). A connection
        failure returns (0, curl's error)."""
        r = subprocess.run(self.argv(role, ["curl", "-sS", "-m", "%g" % timeout, "-o", "-",
                                            "-w", "\n%{http_code}", url]),
                           capture_output=True, text=True, timeout=timeout + 5)
        body, _, code = r.stdout.rpartition("\n")
        try:
            status = int(code)
        except ValueError:
            status = 0
        if status == 0:
            return 0, (r.stderr or r.stdout).strip()
        return status, body

    def wait_http(self, role, url, timeout=10.0):
        """Waits until GET url from inside role's namespace answers 200; returns the time."""
        t0 = time.monotonic()
        while True:
            st, body = self.http_get(role, url, timeout=1.0)
            if st == 200:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("%s cannot GET %s: %s %s" % (role, url, st, body[-300:]))
            time.sleep(0.1)

    def start_pg(self, env, role, addr, port=5432):
        """A private PostgreSQL (tests/lib/pgtmp.py) in env's temp dir, started inside role's
        namespace and listening on addr:port there. Returns a PgCluster whose query/psql use
        the cluster's Unix socket (not bound to a namespace), so the test can query it from
        the root namespace; its conninfo is for processes inside the namespaces."""
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from pgtmp import PgCluster
        d = env.path("pg")
        q = PgCluster(d, port=port, host=os.path.join(d, "sock"))
        env.pgs.append(q)                  # env.cleanup() stops it, dump_logs shows its log
        self.pgs.append(q)
        q.ns_conninfo = "host=%s port=%d user=postgres dbname=%s" % (addr, port, q.dbname)
        # pgtmp listens on (and checks readiness through) every address in `host`; initdb's
        # pg_hba.conf trusts 127.0.0.1 only, so the namespace's /16 is added, then reloaded.
        code = ("import sys; sys.path.insert(0, %r); from pgtmp import PgCluster; "
                "c = PgCluster(%r, port=%d, host='127.0.0.1,%s').start(); "
                "open(%r, 'a').write('host all all %s trust\\n'); "
                "c.psql('SELECT pg_reload_conf()')"
                % (os.path.dirname(os.path.abspath(__file__)), d, port, addr,
                   os.path.join(d, "data", "pg_hba.conf"), self.hba_net))
        self.run(role, [sys.executable, "-c", code], timeout=120)
        return q

    def cut(self, role, dst, kind="blackhole"):
        """Cuts role -> dst with a /32 route of `kind` (blackhole, prohibit, unreachable)."""
        _ip(["-n", self.ns(role), "route", "add", kind, dst + "/32"])
        self.cuts.add((role, dst, kind))
        self.log("cut %s -> %s (%s route)" % (role, dst, kind))

    def restore(self, role, dst):
        for (r, d, kind) in list(self.cuts):
            if r == role and d == dst:
                _ip(["-n", self.ns(role), "route", "del", kind, dst + "/32"])
                self.cuts.discard((r, d, kind))
                self.log("restored %s -> %s" % (role, dst))
                return
        raise ValueError("no cut %s -> %s" % (role, dst))

    def routes(self, role):
        return _ip(["-n", self.ns(role), "route", "show"]).stdout

    def stop(self):
        """Kills whatever still runs in the namespaces and deletes them (idempotent)."""
        if self._destroyed:
            return
        self._destroyed = True
        for pg in self.pgs:                # a clean stop first (pg_ctl -m immediate)
            try:
                pg.stop()
            except Exception as e:  # noqa: BLE001 - the kill below still ends it
                self.log("stopping postgres: %r" % (e,))
        for ns in reversed(self._created):
            killed = kill_and_delete(ns)
            if killed:
                self.log("killed pids %s left in %s" % (killed, ns))
        left = [n for n in list_namespaces() if n.startswith(self.prefix)]
        if left:
            self.log("WARNING: namespaces not deleted: %s" % left)
        try:
            self._watchdog.wait(timeout=5)   # it exits once the namespaces are gone
        except subprocess.TimeoutExpired:
            self._watchdog.kill()
            self._watchdog.wait()

    destroy = stop


def main(argv):
    """CLI: `netns.py list` / `netns.py clean` (leftovers of killed runs)."""
    if len(argv) == 2 and argv[1] == "list":
        print("\n".join(n for n in list_namespaces() if n.startswith(NS_PREFIX)))
        return 0
    if len(argv) == 2 and argv[1] == "clean":
        clean_leftovers()
        return 0
    print("usage: netns.py list|clean", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
