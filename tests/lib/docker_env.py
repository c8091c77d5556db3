"""docker_env: a Docker engine and the debian:bookworm-slim base image for the deploy tests.

    from docker_env import DockerEnv, DockerUnavailable
    with DockerEnv() as d:          # starts dockerd if none runs (stopped again on exit, by pid)
        d.ensure_base_image()       # debootstrap + docker import when it cannot be found locally
        d.compose([...])            # docker-compose (1.29) or `docker compose`

Our machines reach Debian's mirror but no container registry, so `debian:bookworm-slim` is
made locally when `docker image inspect` does not find it: `debootstrap --variant=minbase
bookworm` from the first mirror in apt's own sources, imported and tagged. The image stays in
dockerd's store, so this happens once per machine. The project's Dockerfiles are unchanged.

Every failure raises DockerUnavailable with the reason (and the tail of dockerd's log): a test
that needs Docker fails clearly rather than skipping. Stdlib only.
"""
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time

BASE_IMAGE = "debian:bookworm-slim"
SUITE = "bookworm"


class DockerUnavailable(AssertionError):
    pass


def _log(msg):
    print("[docker_env] %s" % msg, flush=True)


def _run(cmd, timeout=None, check=True, **kw):
    return subprocess.run(cmd, check=check, timeout=timeout, **kw)


def docker_info_ok(timeout=10):
    if not shutil.which("docker"):
        return False
    try:
        r = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return r.returncode == 0 and r.stdout.strip() != b""


def apt_mirror():
    """The Debian mirror apt itself uses for bookworm (deb822 sources first, then one-line)."""
    path = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(path):
        with open(path) as f:
            stanzas = f.read().split("\n\n")
        for st in stanzas:
            fields = {}
            for line in st.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
            suites = fields.get("suites", [])
            if SUITE in suites and "deb" in fields.get("types", []) and fields.get("uris"):
                return fields["uris"][0]
    for path in ("/etc/apt/sources.list",):
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 3 and p[0] == "deb" and SUITE in p[2:] and "security" not in p[1]:
                        return p[1]
    return "http://deb.debian.org/debian"


class DockerEnv:
    def __init__(self):
        self.pid = None          # dockerd started by us
        self.proc = None
        self.logdir = None
        self.compose_base = None

    # --- engine ---------------------------------------------------------------------------
    def start(self, timeout=90):
        if docker_info_ok():
            _log("using the running Docker engine")
        else:
            if not shutil.which("docker"):
                raise DockerUnavailable("no `docker` client: install Debian's docker.io")
            if not shutil.which("dockerd"):
                raise DockerUnavailable("no Docker engine runs and no `dockerd` to start: "
                                        "install Debian's docker.io")
            if os.geteuid() != 0:
                raise DockerUnavailable("no Docker engine runs and starting dockerd needs root")
            self.logdir = tempfile.mkdtemp(prefix="statusd-dockerd.")
            logf = open(os.path.join(self.logdir, "dockerd.log"), "wb")
            self.proc = subprocess.Popen(["dockerd"], stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
            logf.close()
            self.pid = self.proc.pid
            t0 = time.monotonic()
            while not docker_info_ok():
                if self.proc.poll() is not None:
                    raise DockerUnavailable("dockerd exited with %s:\n%s"
                                            % (self.proc.returncode, self.log_tail()))
                if time.monotonic() - t0 > timeout:
                    raise DockerUnavailable("dockerd did not answer `docker info` within %ds:\n%s"
                                            % (timeout, self.log_tail()))
                time.sleep(0.2)
            _log("started dockerd pid=%d in %.1fs (log %s)"
                 % (self.pid, time.monotonic() - t0, self.logdir))
        self.compose_base = self._find_compose()
        return self

    def log_tail(self, n=30):
        if not self.logdir:
            return "(dockerd was already running; see its own log)"
        try:
            with open(os.path.join(self.logdir, "dockerd.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError as e:
            return "(no log: %s)" % e

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
            _log("stopped dockerd pid=%d" % self.pid)
        shutil.rmtree(self.logdir, ignore_errors=True)
        self.proc = None
        self.pid = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False

    # --- compose --------------------------------------------------------------------------
    @staticmethod
    def _find_compose():
        if shutil.which("docker-compose"):
            return ["docker-compose"]
        r = subprocess.run(["docker", "compose", "version"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return ["docker", "compose"]
        raise DockerUnavailable("neither docker-compose nor `docker compose` is installed "
                                "(install Debian's docker-compose)")

    # --- base image -----------------------------------------------------------------------
    @staticmethod
    def image_exists(tag):
        return subprocess.run(["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0

    def ensure_base_image(self, tag=BASE_IMAGE, timeout=900):
        if self.image_exists(tag):
            return False
        lock = open("/var/tmp/statusd-base-image.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)   # another test may be making it right now
            if self.image_exists(tag):
                return False
            if not shutil.which("debootstrap"):
                raise DockerUnavailable("%s is not in dockerd's store, no registry is reachable "
                                        "and debootstrap is not installed" % tag)
            mirror = apt_mirror()
            root = tempfile.mkdtemp(prefix="statusd-rootfs.", dir="/var/tmp")
            t0 = time.monotonic()
            _log("%s not found: debootstrap --variant=minbase %s from %s" % (tag, SUITE, mirror))
            try:
                r = subprocess.run(["debootstrap", "--variant=minbase", SUITE, root, mirror],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=timeout)
                if r.returncode != 0:
                    raise DockerUnavailable("debootstrap failed (exit %d):\n%s" % (
                        r.returncode, r.stdout.decode(errors="replace")[-3000:]))
                # what a -slim image does not carry
                for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
                    d = os.path.join(root, sub)
                    for name in os.listdir(d):
                        p = os.path.join(d, name)
                        if os.path.isfile(p) and name not in ("lock",):
                            os.unlink(p)
                tar = subprocess.Popen(["tar", "-C", root, "--numeric-owner", "-c", "."],
                                       stdout=subprocess.PIPE)
                imp = subprocess.run(["docker", "import", "--change", 'CMD ["bash"]', "-", tag],
                                     stdin=tar.stdout, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
                tar.stdout.close()
                tar.wait()
                if imp.returncode != 0 or tar.returncode != 0:
                    raise DockerUnavailable("docker import failed: %s"
                                            % imp.stdout.decode(errors="replace"))
            finally:
                shutil.rmtree(root, ignore_errors=True)
            _log("MEASURED base image %s made in %.1f s" % (tag, time.monotonic() - t0))
            return True
        finally:
            lock.close()


if __name__ == "__main__":
    # `python3 tests/lib/docker_env.py`: make the base image (with a running dockerd).
    env = DockerEnv().start()
    try:
        env.ensure_base_image()
    finally:
        env.stop()
