#!/usr/bin/python3
"""collector/rules/ is the alert engine's pure decisions: facts in, actions out. This check
fails when a file there includes anything but the C library, another rules header or the
few pure headers of common/ that the rules library links (statusd_text) or only uses for a
type: no CZMQ, no ZeroMQ, no libpq, no actor or store header of the collector.

Usage: check_rules_layout.py COLLECTOR_DIR. Before judging the real folder it proves it can
fail: a planted copy with `#include <czmq.h>` and one with `#include "engine.h"` must be
refused."""
import os
import re
import shutil
import sys
import tempfile

# headers of common/ the rules may use: sd_utf8 (linked through statusd_text), sd_clock
# (its sd_ms_t type only; the rules never read a clock) and sd_limits (macros only: the
# numbers agent and collector agree on)
ALLOWED_COMMON = {"sd_utf8.h", "sd_clock.h", "sd_limits.h"}
C_LIBRARY = {
    "assert.h", "ctype.h", "errno.h", "float.h", "inttypes.h", "limits.h", "math.h",
    "stdarg.h", "stdbool.h", "stddef.h", "stdint.h", "stdio.h", "stdlib.h", "string.h",
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def problems(rules_dir):
    own = {f for f in os.listdir(rules_dir) if f.endswith(".h")}
    found = []
    for name in sorted(os.listdir(rules_dir)):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(rules_dir, name), encoding="utf-8") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            kind, header = m.group(1), m.group(2)
            line = text.count("\n", 0, m.start()) + 1
            ok = (header in C_LIBRARY if kind == "<" else
                  header in own or header in ALLOWED_COMMON)
            if not ok:
                found.append("%s:%d: includes %s%s%s" % (
                    name, line, kind, header, ">" if kind == "<" else '"'))
    return found


def main():
    collector = sys.argv[1]
    rules = os.path.join(collector, "rules")
    with tempfile.TemporaryDirectory() as tmp:
        for planted in ('#include <czmq.h>\n', '#include "engine.h"\n',
                        '#include <libpq-fe.h>\n'):
            copy = os.path.join(tmp, "rules")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(rules, copy)
            with open(os.path.join(copy, "planted.c"), "w") as f:
                f.write(planted)
            got = problems(copy)
            if not any("planted.c" in p for p in got):
                print("FAIL: the check did not refuse a planted %r" % planted.strip())
                return 1
            print("check refuses a planted %r: %s" % (planted.strip(), got[-1]))
    found = problems(rules)
    files = len([f for f in os.listdir(rules) if f.endswith((".c", ".h"))])
    if found:
        print("FAIL: collector/rules must stay pure (C library, its own headers, %s):"
              % ", ".join(sorted(ALLOWED_COMMON)))
        for p in found:
            print("  " + p)
        return 1
    print("collector/rules: %d files, every include pure" % files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
