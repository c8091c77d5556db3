"""Documentation links: every relative Markdown link in the repository points at a file that
exists, and every #anchor at a heading of that file (GitHub's slugs); no file refers to the
shared directory outside the repository. Needs no build: it reads the source tree only.

For each *.md file (build*/, .git, node_modules and var/ skipped), every inline link
`[text](target)` outside code blocks and code spans whose target has no scheme (http:,
https:, mailto:, ...) must name an existing file or directory relative to the .md file; an
`#anchor` (alone: the same file) must be the slug of a heading of the target .md file.
Every broken link is printed as file:line. Before the real tree, a self-check runs the
same checks on a small tree in a temp dir with known mistakes and fails unless it finds
exactly those, so this test can fail.
"""
import os
import re
import sys
import tempfile
import time

SOURCE_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SKIP_DIRS = {".git", "node_modules", "var", "__pycache__", ".cache"}
# built from parts so that this file does not hold the text it looks for
FORBIDDEN = [("..", "/shared"), ("/work", "/shared")]
FORBIDDEN = [(a + b).encode() for a, b in FORBIDDEN]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)
# [text](target "title"); the text may span lines and hold `code` or ![images](...)
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(<[^>]*>|[^\s)]*)(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def skip_dir(name):
    return name in SKIP_DIRS or name.startswith("build")


def walk(root):
    """Every file under root (relative paths), skipped directories left out."""
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not (d == root and skip_dir(x)) and x not in SKIP_DIRS)
        for f in sorted(files):
            yield os.path.relpath(os.path.join(d, f), root)


def strip_code(text):
    """text with fenced code blocks and code spans blanked out (newlines kept, so offsets
    and line numbers stay), and the list of lines outside fences as (index, line)."""
    out, prose, fence = [], [], None
    for i, line in enumerate(text.split("\n")):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not line.strip()[len(m.group(1)):].strip():
                fence = None
            out.append(" " * len(line))
            continue
        if m:
            fence = m.group(1)
            out.append(" " * len(line))
            continue
        out.append(line)
        prose.append((i, line))
    joined = "\n".join(out)
    # code spans: a run of backticks up to the same run (may cross a line break)
    joined = re.sub(r"(`+)(.+?)\1", lambda m: re.sub(r"[^\n]", " ", m.group(0)), joined,
                    flags=re.S)
    return joined, prose


def slug(heading):
    """GitHub's anchor for a heading's text."""
    t = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    t = re.sub(r"<[^>]+>", "", t)                             # inline HTML tags
    t = t.strip().lower()
    t = "".join(c for c in t if c.isalnum() or c in " -_")
    return t.replace(" ", "-")


def anchors(path):
    """The anchors of a Markdown file: heading slugs (duplicates -1, -2, ...) and HTML ids."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    _, prose = strip_code(text)
    seen, result = {}, set()
    prev = None  # previous prose line, for setext headings
    heads = []
    for i, line in prose:
        m = ATX.match(line)
        if m:
            heads.append(m.group(2) or "")
            prev = None
            continue
        s = SETEXT.match(line)
        if s and prev is not None and prev[0] == i - 1 and prev[1].strip() \
                and not prev[1].lstrip().startswith(("|", "-", "*", ">")):
            heads.append(prev[1].strip())
            prev = None
            continue
        prev = (i, line)
    for h in heads:
        base = slug(h)
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else "%s-%d" % (base, n))
    result.update(HTML_ANCHOR.findall(text))
    return result


def check_tree(root):
    """(problems, stats): problems as 'file:line: message' strings."""
    problems = []
    stats = {"md_files": 0, "links": 0, "external": 0, "files_checked": 0, "anchors_checked": 0,
             "files_scanned": 0}
    cache = {}

    def anchors_of(path):
        if path not in cache:
            cache[path] = anchors(path)
        return cache[path]

    files = list(walk(root))
    for rel in files:
        stats["files_scanned"] += 1
        try:
            with open(os.path.join(root, rel), "rb") as f:
                data = f.read()
        except OSError as e:
            problems.append("%s: cannot read: %s" % (rel, e))
            continue
        for needle in FORBIDDEN:
            at = data.find(needle)
            while at >= 0:
                line = data.count(b"\n", 0, at) + 1
                problems.append("%s:%d: refers to %s (outside the repository)"
                                % (rel, line, needle.decode()))
                at = data.find(needle, at + 1)
    for rel in files:
        if not rel.endswith(".md"):
            continue
        stats["md_files"] += 1
        path = os.path.join(root, rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        code_free, _ = strip_code(text)
        for m in LINK.finditer(code_free):
            stats["links"] += 1
            target = m.group(2).strip("<>")
            line = code_free.count("\n", 0, m.start(2)) + 1
            where = "%s:%d: [%s](%s)" % (rel, line, " ".join(m.group(1).split())[:40], target)
            if not target:
                problems.append(where + ": empty target")
                continue
            if SCHEME.match(target):
                stats["external"] += 1
                continue
            file_part, _, frag = target.partition("#")
            file_part = file_part.split("?")[0]
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
                if file_part else path
            if file_part:
                stats["files_checked"] += 1
                if not os.path.exists(dest):
                    problems.append(where + ": no such file %s"
                                    % os.path.relpath(dest, root))
                    continue
                if not os.path.realpath(dest).startswith(os.path.realpath(root) + os.sep):
                    problems.append(where + ": points outside the repository")
                    continue
            if frag:
                stats["anchors_checked"] += 1
                if not dest.endswith(".md") or not os.path.isfile(dest):
                    problems.append(where + ": anchor on a file that is not Markdown")
                elif frag not in anchors_of(dest):
                    problems.append(where + ": no heading #%s in %s"
                                    % (frag, os.path.relpath(dest, root)))
    return problems, stats


def self_check():
    """The checks find exactly the mistakes planted in a small tree (and nothing else)."""
    with tempfile.TemporaryDirectory(prefix="statusd-doclinks-") as tmp:
        os.makedirs(os.path.join(tmp, "docs"))
        os.makedirs(os.path.join(tmp, "build-x"))
        files = {
            "README.md": "# Top\n\nSee [the guide](docs/guide.md), [a part](docs/guide.md#a-b_c-d),\n"
                         "[again](docs/guide.md#intro-1), [top](#top), [web](https://example.org/x),\n"
                         "[gone](docs/missing.md) and [bad anchor](docs/guide.md#nope).\n"
                         "```\n[in code](nowhere.md)\n```\n"
                         "`[span](nowhere.md)` and [multi\nline](#top)\n",
            "docs/guide.md": "# Intro\n\n## A b_c: `d`!\n\n# Intro\n\nSetext\n------\n\n"
                             "[up](../README.md#top) [setext](#setext) [dup](#intro-2)\n",
            "docs/notes.txt": "see " + FORBIDDEN[0].decode() + "/DESIGN.md\n",
            "build-x/ignored.md": "[ignored](nowhere.md)\n",
        }
        for rel, text in files.items():
            with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                f.write(text)
        problems, stats = check_tree(tmp)
        expected = [
            "docs/notes.txt:1: refers to",
            "README.md:5: [gone](docs/missing.md): no such file docs/missing.md",
            "README.md:5: [bad anchor](docs/guide.md#nope): no heading #nope in docs/guide.md",
            "docs/guide.md:10: [dup](#intro-2): no heading #intro-2 in docs/guide.md",
        ]
        ok = len(problems) == len(expected) and all(
            p.startswith(e) for p, e in zip(problems, expected))
        print("self-check on a planted tree: %d problems found (%d expected), %d links"
              % (len(problems), len(expected), stats["links"]))
        if not ok or stats["links"] != 11:
            print("SELF-CHECK FAILED: expected\n  %s\ngot\n  %s"
                  % ("\n  ".join(expected), "\n  ".join(problems)))
            return False
    return True


def main():
    t0 = time.monotonic()
    if not self_check():
        return 1
    problems, stats = check_tree(SOURCE_DIR)
    elapsed = time.monotonic() - t0
    for p in problems:
        print("BROKEN " + p)
    print("=== measured ===")
    print("files scanned for references outside the repository: %d" % stats["files_scanned"])
    print("Markdown files: %d; links: %d (external, not fetched: %d); relative file targets "
          "checked: %d; anchors checked: %d" % (stats["md_files"], stats["links"],
                                                stats["external"], stats["files_checked"],
                                                stats["anchors_checked"]))
    print("problems: %d; elapsed %.2f s" % (len(problems), elapsed))
    if problems:
        print("FAIL: %d broken link(s) or reference(s), listed above" % len(problems))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
