"""A private PostgreSQL cluster for tests: initdb in a temp dir, a free port, trust auth.

Used by the ctest fixture (python3 tests/lib/pgtmp.py start DIR / stop DIR: a fresh cluster,
destroyed at stop), by deploy/quickstart.sh (up DIR [PORT] / down DIR: a cluster whose data is
kept between runs) and imported by integration tests (PgCluster). As root, the cluster runs as
the 'postgres' system user, since PostgreSQL refuses to run as root.
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time


def pg_bindir():
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]), reverse=True)
    if not cands:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql "
                           "(apt-get install postgresql)")
    return os.path.dirname(cands[0])


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, datadir, port=None, host="127.0.0.1", durable=False,
                 commit_safe=False):
        """durable=False (tests) runs without fsync, synchronous_commit and full-page
        writes; durable=True keeps PostgreSQL's crash-safe defaults (benchmarks).
        commit_safe=True keeps synchronous_commit on (fsync still off): a commit is in the
        WAL before it returns, so a killed PostgreSQL (stop -m immediate, SIGKILL) loses no
        committed transaction; only a crash of the machine could (tests of PostgreSQL
        crashes; without it a crash loses the last ~0.6 s of commits by design)."""
        self.durable = durable
        self.commit_safe = commit_safe
        self.dir = os.path.abspath(datadir)
        self.port = port or free_port()
        self.host = host
        self.bindir = pg_bindir()
        self.dbname = "statusd"
        self.user = None

    @property
    def conninfo(self):
        return "host=%s port=%d user=postgres dbname=%s" % (self.host, self.port, self.dbname)

    def _run(self, args, **kw):
        pre = []
        if os.geteuid() == 0:
            pre = ["runuser", "-u", "postgres", "--"]
        return subprocess.run(pre + args, check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, **kw)

    def running(self):
        """True when a postmaster is running on this data directory (pg_ctl status)."""
        data = os.path.join(self.dir, "data")
        if not os.path.exists(os.path.join(data, "postmaster.pid")):
            return False
        try:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", data, "status"])
            return True
        except subprocess.CalledProcessError:
            return False

    def start(self, timeout=60):
        os.makedirs(self.dir, exist_ok=True)
        if self.running():
            # left over from a run that was killed: its port may differ, restart it
            self.stop()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            # the postgres user must be able to reach the directory
            p = os.path.dirname(self.dir)
            while p not in ("/", ""):
                st = os.stat(p)
                if not (st.st_mode & 0o001):
                    os.chmod(p, st.st_mode | 0o001)
                p = os.path.dirname(p)
        data = os.path.join(self.dir, "data")
        if not os.path.exists(os.path.join(data, "PG_VERSION")):
            self._run([os.path.join(self.bindir, "initdb"), "-D", data, "-U", "postgres",
                       "-A", "trust", "-E", "UTF8", "--no-sync"])
        sock = os.path.join(self.dir, "sock")
        os.makedirs(sock, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(sock, pw.pw_uid, pw.pw_gid)
        opts = "-p %d -k %s -c listen_addresses=%s -c max_connections=200" % (
            self.port, sock, self.host)
        if not self.durable:
            opts += " -c fsync=off -c full_page_writes=off"
            if not self.commit_safe:
                opts += " -c synchronous_commit=off"
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", data, "-l",
                   os.path.join(self.dir, "postgres.log"), "-o", opts, "-w", "-t", str(timeout),
                   "start"])
        deadline = time.time() + timeout
        while True:
            r = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-U", "postgres",
                                "-d", "postgres", "-h", self.host, "-p", str(self.port)],
                               capture_output=True)
            if r.returncode == 0:
                break
            if time.time() > deadline:
                raise RuntimeError("postgres did not become ready on port %d" % self.port)
            time.sleep(0.1)
        r = self.psql("SELECT 1 FROM pg_database WHERE datname='%s'" % self.dbname, db="postgres")
        if r.strip() != "1":
            self.psql("CREATE DATABASE %s" % self.dbname, db="postgres")
        return self

    def query(self, sql, db=None):
        """Runs one SQL text; returns the rows as lists of strings (NULL -> '')."""
        return [line.split("|") for line in self.psql(sql, db).splitlines() if line != ""]

    def scalar(self, sql, db=None):
        """Runs one SQL text returning one value; returns it as a string."""
        rows = self.query(sql, db)
        return rows[0][0] if rows else None

    def psql(self, sql, db=None):
        """Runs one SQL text with psql; returns the unaligned, tuples-only output."""
        r = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port),
                            "-U", "postgres", "-d", db or self.dbname, "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, r.stderr))
        return r.stdout

    def stop(self, mode="immediate"):
        """Stops the server if running; mode "immediate" (tests) or "fast" (keeps a clean
        shutdown for data that is reused)."""
        data = os.path.join(self.dir, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            try:
                self._run([os.path.join(self.bindir, "pg_ctl"), "-D", data, "-m", mode,
                           "-w", "-t", "60", "stop"])
            except subprocess.CalledProcessError as e:
                if self.running():
                    raise RuntimeError("pg_ctl stop failed: %s" % e.stdout)

    def postmaster_pid(self):
        """The running postmaster's pid (first line of postmaster.pid), or None."""
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def _cluster_pids(self):
        """Every process whose working directory is this cluster's data directory: the
        postmaster and all its children (PostgreSQL's processes chdir there)."""
        data = os.path.realpath(os.path.join(self.dir, "data"))
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.readlink("/proc/%s/cwd" % d) == data:
                        pids.append(int(d))
                except OSError:
                    pass
        return pids

    def crash(self, timeout=30):
        """A crash: SIGKILL to the postmaster, then to every process left of the cluster
        (orphaned backends would keep its shared memory, so it could not start again), and
        waits until none is left. postmaster.pid stays behind, stale, as after a real crash;
        start() runs PostgreSQL's crash recovery. Returns the postmaster's pid."""
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError("no postmaster.pid in %s: not running" % self.dir)
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + timeout
        while True:
            left = self._cluster_pids()
            if not left:
                return pid
            if time.time() > deadline:
                raise RuntimeError("PostgreSQL processes %r still alive %d s after SIGKILL"
                                   % (left, timeout))
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if len(argv) not in (3, 4) or argv[1] not in ("start", "stop", "up", "down"):
        print("usage: pgtmp.py start|stop DIR    fresh cluster / stop and delete it\n"
              "       pgtmp.py up DIR [PORT]       start, keeping data (initdb on first use)\n"
              "       pgtmp.py down DIR            stop, keeping data", file=sys.stderr)
        return 2
    d = os.path.abspath(argv[2])
    if argv[1] == "up":
        c = PgCluster(d, port=int(argv[3]) if len(argv) == 4 else None).start()
        with open(os.path.join(d, "conninfo"), "w") as f:
            f.write(c.conninfo + "\n")
        print(c.conninfo)
        return 0
    if argv[1] == "down":
        PgCluster(d).stop(mode="fast")
        return 0
    if argv[1] == "start":
        if os.path.exists(d):
            PgCluster(d).destroy()
        c = PgCluster(d).start()
        with open(os.path.join(d, "conninfo"), "w") as f:
            f.write(c.conninfo + "\n")
        print("postgres ready:", c.conninfo)
    else:
        c = PgCluster(d)
        c.destroy()
        print("postgres stopped:", d)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
