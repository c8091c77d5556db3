"""debs: builds the three .deb packages with CPack from the tests' build directory (stdlib only).

The build dir's binaries are used as they are; in a sanitizer build they would need the ASan
runtime, so callers only package the gcc build (see deploy_common.sanitizer_build()).
"""
import fcntl
import glob
import os
import subprocess

from deploy_common import BUILD_DIR, run

NAMES = ("statusd-common", "statusd-agent", "statusd-collector")


def version():
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith("CMAKE_PROJECT_VERSION:"):
                return line.split("=", 1)[1].strip()
    raise AssertionError("no CMAKE_PROJECT_VERSION in %s/CMakeCache.txt" % BUILD_DIR)


def build_debs():
    """Runs cpack -G DEB in BUILD_DIR (once at a time) and returns {name: path}."""
    outdir = os.path.join(BUILD_DIR, "packages")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for old in glob.glob(os.path.join(outdir, "*.deb")):
            os.unlink(old)
        run(["cpack", "-G", "DEB", "-B", outdir, "--config",
             os.path.join(BUILD_DIR, "CPackConfig.cmake")], timeout=300, cwd=BUILD_DIR)
        v = version()
        out = {}
        for n in NAMES:
            p = os.path.join(outdir, "%s_%s_amd64.deb" % (n, v))
            if not os.path.exists(p):
                raise AssertionError("cpack did not make %s (made: %s)" % (
                    p, os.listdir(outdir)))
            out[n] = p
        return out


def extract(debs, root):
    for p in debs.values():
        subprocess.run(["dpkg-deb", "-x", p, root], check=True)
