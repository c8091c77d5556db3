"""openapi_check: an API response checked against docs/openapi.json (the OpenAPI 3.1 document
the collector serves on /api/openapi.json), with Debian's python3-jsonschema (draft 2020-12,
the dialect of OpenAPI 3.1 schemas).

    spec = openapi_check.load()
    problems = spec.check("GET", "/api/assets?x=1", 200, "application/json", body_text)

A response passes when its path matches a path of the document, the method is an operation
of it (or the status is 405, for a method the path does not list), the status is one of the
operation's responses, the content type is one of that response's, and a JSON body is valid
against its schema. Anything else is a problem: an undocumented route or status fails too.
"""
import json
import os
import re
import urllib.parse

import jsonschema

SOURCE_DIR = os.environ.get("STATUSD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC_PATH = os.path.join(SOURCE_DIR, "docs", "openapi.json")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Spec:
    def __init__(self, doc):
        self.doc = doc
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=doc)
        # literal paths before templated ones: /api/assets/{id} must not take /api/openapi.json
        self.paths = []
        for tpl in sorted(doc["paths"], key=lambda t: (t.count("{"), t)):
            rx = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                         for part in re.split(r"(\{[^}]+\})", tpl))
            self.paths.append((tpl, re.compile("^" + rx + "$")))

    def _deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def route(self, path):
        """The path template of a request path (query string ignored), or None."""
        p = urllib.parse.urlsplit(path).path or "/"
        for tpl, rx in self.paths:
            if rx.match(p):
                return tpl
        return None

    def check(self, method, path, status, ctype, body):
        """The problems of one response (a list of strings; empty: it matches the document)."""
        what = "%s %s -> %s" % (method, path, status)
        tpl = self.route(path)
        if tpl is None:
            return ["%s: undocumented route" % what]
        item = self.doc["paths"][tpl]
        m = method.lower()
        op = item.get("get" if m == "head" else m)
        if op is None:
            if status != 405:
                return ["%s: %s is not an operation of %s (only a 405 is)" % (what, method, tpl)]
            resp = self.doc["components"]["responses"]["E405"]
        else:
            resp = op["responses"].get(str(status))
            if resp is None:
                return ["%s: status %s is not documented for %s %s (documented: %s)"
                        % (what, status, method, tpl, ", ".join(sorted(op["responses"])))]
            resp = self._deref(resp)
        content = resp.get("content", {})
        mtype = (ctype or "").split(";")[0].strip().lower()
        if mtype not in content:
            return ["%s: content type %r is not documented (documented: %s)"
                    % (what, ctype, ", ".join(content) or "none")]
        if m == "head" or mtype != "application/json":
            return []
        try:
            value = json.loads(body)
        except ValueError as e:
            return ["%s: body is not JSON (%s): %.200s" % (what, e, body)]
        schema = content[mtype].get("schema", {})
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        errs = sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path))
        return ["%s (%s): at %s: %s" % (what, tpl, "/".join(str(p) for p in e.absolute_path)
                                        or "(top)", e.message[:300]) for e in errs[:5]]


def load(path=DOC_PATH):
    with open(path, encoding="utf-8") as f:
        return Spec(json.load(f))
