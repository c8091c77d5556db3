"""npm_pkg: an npm package of a pinned version under the build tree, installed with npm when
missing or of another version (the Node tools of the tests: test_openapi's OpenAPI validator,
test_status_page's axe-core). The test fails when it cannot be installed."""
import json
import os
import subprocess

from harness import BUILD_DIR, log


def npm_package(name, version, subdir):
    """The directory of package name@version, installed under BUILD_DIR/subdir."""
    prefix = os.path.join(BUILD_DIR, subdir)
    pkg = os.path.join(prefix, "node_modules", *name.split("/"))
    try:
        with open(os.path.join(pkg, "package.json")) as f:
            have = json.load(f).get("version")
    except (OSError, ValueError):
        have = None
    if have != version:
        os.makedirs(prefix, exist_ok=True)
        cmd = ["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
               "--no-save", "%s@%s" % (name, version)]
        log("installing %s@%s: %s" % (name, version, " ".join(cmd)))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError("cannot install %s@%s with npm (rc %d): %s" % (
                name, version, r.returncode, (r.stderr or r.stdout)[-2000:]))
    return pkg
