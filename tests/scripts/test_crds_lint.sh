#!/usr/bin/env bash
# Structural lint of the CRDs under crds/, the sample CRs under deploy/examples/, the
# invalid CRs under tests/fixtures/invalid/ and the third-party CRD fixtures under
# tests/fixtures/crds/. No cluster runs here, so the test carries its own small
# validator: OpenAPI structural checks with defaulting, and an evaluator for exactly
# the CEL subset the API simulator supports. Any rule outside that subset fails the
# lint, every example must validate, and every invalid CR must fail with exactly the
# errors its header names (worded as kube-apiserver words them).
# Args: <build dir> <source dir> (the build dir is unused).
set -euo pipefail
src="${2:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec /usr/bin/python3 - "$src" <<'PY'
import copy
import datetime
import glob
import hashlib
import os
import re
import sys

import yaml

SRC = sys.argv[1]
failures = []


def fail(where, msg):
    failures.append("%s: %s" % (where, msg))


def load_docs(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        fail(os.path.relpath(path, SRC), "does not parse: %s" % str(e).replace("\n", " "))
        return []


# ---------------------------------------------------------------------------
# CEL subset: field access, has(), size(), comparisons, &&, ||, !, ?:, in,
# oldSelf, startsWith/endsWith/contains/matches, all/exists/exists_one/filter/map
# macros and timestamp(). The parser refuses anything else.
# ---------------------------------------------------------------------------
class CelError(Exception):
    pass


TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!?:.,()\[\]])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)

MACROS = {"all", "exists", "exists_one", "filter", "map"}
METHODS = {"size", "startsWith", "endsWith", "contains", "matches"}
GLOBALS = {"has", "size", "timestamp"}


def tokenize(text):
    pos, out = 0, []
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m:
            raise CelError("unexpected character %r at %d" % (text[pos], pos))
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        val = m.group(kind)
        if kind == "str":
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        elif kind == "num":
            val = int(val)
        elif kind == "ident" and val in ("true", "false"):
            kind, val = "bool", val == "true"
        elif kind == "ident" and val == "in":
            kind = "op"
        out.append((kind, val))
    out.append(("eof", None))
    return out


class Parser:
    def __init__(self, text):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, kind=None, val=None):
        t = self.toks[self.i]
        if (kind and t[0] != kind) or (val is not None and t[1] != val):
            raise CelError("expected %s, found %r" % (val or kind, t[1]))
        self.i += 1
        return t

    def is_op(self, *vals):
        t = self.peek()
        return t[0] == "op" and t[1] in vals

    def parse(self):
        e = self.cond()
        self.take("eof")
        return e

    def cond(self):
        c = self.orx()
        if self.is_op("?"):
            self.take()
            a = self.cond()
            self.take("op", ":")
            b = self.cond()
            return ("?", c, a, b)
        return c

    def orx(self):
        e = self.andx()
        while self.is_op("||"):
            self.take()
            e = ("||", e, self.andx())
        return e

    def andx(self):
        e = self.rel()
        while self.is_op("&&"):
            self.take()
            e = ("&&", e, self.rel())
        return e

    def rel(self):
        e = self.unary()
        while self.is_op("==", "!=", "<", "<=", ">", ">=", "in"):
            op = self.take()[1]
            e = (op, e, self.unary())
        return e

    def unary(self):
        if self.is_op("!"):
            self.take()
            return ("!", self.unary())
        return self.member()

    def member(self):
        e = self.primary()
        while True:
            if self.is_op("."):
                self.take()
                name = self.take("ident")[1]
                if self.is_op("("):
                    if name not in MACROS and name not in METHODS:
                        raise CelError("function %s is outside the supported subset" % name)
                    args = self.args()
                    if name in MACROS:
                        if len(args) != 2 or args[0][0] != "id":
                            raise CelError("macro %s needs (variable, expression)" % name)
                        e = ("macro", name, e, args[0][1], args[1])
                    else:
                        e = ("method", name, e, args)
                else:
                    e = ("sel", e, name)
            elif self.is_op("["):
                self.take()
                idx = self.cond()
                self.take("op", "]")
                e = ("index", e, idx)
            else:
                return e

    def args(self):
        self.take("op", "(")
        out = []
        if not self.is_op(")"):
            out.append(self.cond())
            while self.is_op(","):
                self.take()
                out.append(self.cond())
        self.take("op", ")")
        return out

    def primary(self):
        t = self.peek()
        if t[0] in ("num", "str", "bool"):
            self.take()
            return ("lit", t[1])
        if t[0] == "ident":
            self.take()
            if self.is_op("("):
                if t[1] not in GLOBALS:
                    raise CelError("function %s is outside the supported subset" % t[1])
                args = self.args()
                if t[1] == "has" and (len(args) != 1 or args[0][0] != "sel"):
                    raise CelError("has() needs a field selection")
                return ("call", t[1], args)
            return ("id", t[1])
        if self.is_op("("):
            self.take()
            e = self.cond()
            self.take("op", ")")
            return e
        if self.is_op("["):
            self.take()
            items = []
            if not self.is_op("]"):
                items.append(self.cond())
                while self.is_op(","):
                    self.take()
                    items.append(self.cond())
            self.take("op", "]")
            return ("list", items)
        raise CelError("unexpected %r" % (t[1],))


def parse_time(s):
    if isinstance(s, datetime.datetime):
        return s
    if not isinstance(s, str) or not RFC3339.match(s):
        raise CelError("timestamp() of %r" % (s,))
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))


def cel_eval(node, env):
    k = node[0]
    if k == "lit":
        return node[1]
    if k == "id":
        if node[1] not in env:
            raise CelError("undeclared reference to %s" % node[1])
        return env[node[1]]
    if k == "list":
        return [cel_eval(n, env) for n in node[1]]
    if k == "sel":
        obj = cel_eval(node[1], env)
        if not isinstance(obj, dict) or obj.get(node[2]) is None:
            raise CelError("no such key: %s" % node[2])
        return obj[node[2]]
    if k == "index":
        obj, idx = cel_eval(node[1], env), cel_eval(node[2], env)
        try:
            return obj[idx]
        except (KeyError, IndexError, TypeError):
            raise CelError("no such key: %r" % (idx,))
    if k == "call":
        name, args = node[1], node[2]
        if name == "has":
            obj = cel_eval(args[0][1], env)
            return isinstance(obj, dict) and obj.get(args[0][2]) is not None
        v = cel_eval(args[0], env)
        if name == "size":
            return len(v)
        return parse_time(v)
    if k == "method":
        name, recv, args = node[1], cel_eval(node[2], env), [cel_eval(a, env) for a in node[3]]
        if name == "size":
            return len(recv)
        if not isinstance(recv, str):
            raise CelError("%s() on a non-string" % name)
        if name == "startsWith":
            return recv.startswith(args[0])
        if name == "endsWith":
            return recv.endswith(args[0])
        if name == "contains":
            return args[0] in recv
        return re.search(args[0], recv) is not None
    if k == "macro":
        name, coll, var, body = node[1], cel_eval(node[2], env), node[3], node[4]
        elems = list(coll.keys()) if isinstance(coll, dict) else list(coll)

        def app(x):
            e2 = dict(env)
            e2[var] = x
            return cel_eval(body, e2)
        if name == "all":
            return all(app(x) for x in elems)
        if name == "exists":
            return any(app(x) for x in elems)
        if name == "exists_one":
            return sum(1 for x in elems if app(x)) == 1
        if name == "filter":
            return [x for x in elems if app(x)]
        return [app(x) for x in elems]
    if k == "!":
        return not truth(cel_eval(node[1], env))
    if k == "&&":
        return truth(cel_eval(node[1], env)) and truth(cel_eval(node[2], env))
    if k == "||":
        return truth(cel_eval(node[1], env)) or truth(cel_eval(node[2], env))
    if k == "?":
        return cel_eval(node[2] if truth(cel_eval(node[1], env)) else node[3], env)
    a, b = cel_eval(node[1], env), cel_eval(node[2], env)
    if k == "in":
        return a in (b.keys() if isinstance(b, dict) else b)
    if k == "==":
        return a == b
    if k == "!=":
        return a != b
    if type(a) is not type(b):
        raise CelError("no matching overload for %s" % k)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[k]


def truth(v):
    if not isinstance(v, bool):
        raise CelError("no matching overload: expected bool")
    return v


# ---------------------------------------------------------------------------
# Structural schema validation, defaulting and CEL, worded like kube-apiserver.
# ---------------------------------------------------------------------------
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def go_repr(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"%s"' % v
    return str(v)


def apply_defaults(schema, value):
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                apply_defaults(sub, value[name])
        ap = schema.get("additionalProperties")
        if isinstance(ap, dict):
            for v in value.values():
                apply_defaults(ap, v)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for v in value:
            apply_defaults(schema["items"], v)


def type_ok(t, v):
    return {
        "object": isinstance(v, dict),
        "array": isinstance(v, list),
        "string": isinstance(v, str),
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": isinstance(v, bool),
    }[t]


BLOCKING = ("Required value", "Unsupported value", "Too long", "Too many", "must be of type")
NOT_CHECKED = ('<nil>: Invalid value: "null": some validation rules were not checked because the '
               'object was invalid; correct the existing errors to complete validation')


def validate(schema, value, path, errs, root=False):
    """Appends kube-apiserver style causes of OpenAPI schema violations to errs."""
    if value is None:
        return
    p = path[1:] if path.startswith(".") else path
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or type_ok("integer", value)):
            errs.append('%s: Invalid value: %s: %s in body must be of type integer,string: "%s"'
                        % (p, go_repr(value), p, type(value).__name__))
            return
    elif "type" in schema and not type_ok(schema["type"], value):
        errs.append('%s: Invalid value: "%s": %s in body must be of type %s: "%s"'
                    % (p, type(value).__name__, p, schema["type"], type(value).__name__))
        return
    if isinstance(value, str):
        if "enum" in schema and value not in schema["enum"]:
            errs.append("%s: Unsupported value: %s: supported values: %s"
                        % (p, go_repr(value), ", ".join(go_repr(e) for e in schema["enum"])))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append("%s: Too long: may not be more than %d bytes" % (p, schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append("%s: Invalid value: %s: %s in body should be at least %d chars long"
                        % (p, go_repr(value), p, schema["minLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append("%s: Invalid value: %s: %s in body should match '%s'"
                        % (p, go_repr(value), p, schema["pattern"]))
        if schema.get("format") == "date-time" and not RFC3339.match(value):
            errs.append("%s: Invalid value: %s: %s in body must be of type date-time: %s"
                        % (p, go_repr(value), p, go_repr(value)))
    if type_ok("integer", value):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append("%s: Invalid value: %d: %s in body should be greater than or equal to %d"
                        % (p, value, p, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errs.append("%s: Invalid value: %d: %s in body should be less than or equal to %d"
                        % (p, value, p, schema["maximum"]))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append("%s: Too many: %d: must have at most %d items" % (p, len(value), schema["maxItems"]))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append("%s: Invalid value: %d: %s in body should have at least %d items"
                        % (p, len(value), p, schema["minItems"]))
        if schema.get("x-kubernetes-list-type") == "set":
            seen = []
            for i, v in enumerate(value):
                if v in seen:
                    errs.append("%s[%d]: Duplicate value: %s" % (p, i, go_repr(v)))
                seen.append(v)
        for i, v in enumerate(value):
            validate(schema.get("items", {}), v, "%s[%d]" % (path, i), errs)
    if isinstance(value, dict):
        props = schema.get("properties")
        ap = schema.get("additionalProperties")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errs.append("%s: Too many: %d: must have at most %d items" % (p, len(value), schema["maxProperties"]))
        for req in schema.get("required", []):
            if value.get(req) is None:
                errs.append("%s.%s: Required value" % (p, req) if p else "%s: Required value" % req)
        for k, v in value.items():
            sub = "%s.%s" % (path, k)
            if props is not None and k in props:
                if not (root and k == "metadata"):
                    validate(props[k], v, sub, errs)
            elif isinstance(ap, dict):
                validate(ap, v, sub, errs)
            elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                errs.append('strict decoding error: unknown field "%s"' % sub[1:])


def validate_rules(schema, value, old, path, errs):
    """Evaluates x-kubernetes-validations bottom-up, as the CEL validator does; transition
    rules (those using oldSelf) only where an old value correlates."""
    if value is None:
        return
    p = path[1:] if path.startswith(".") else path
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        ap = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k) if k in props else (ap if isinstance(ap, dict) else None)
            if sub is not None and not (path == "" and k == "metadata"):
                validate_rules(sub, v, old.get(k) if isinstance(old, dict) else None, "%s.%s" % (path, k), errs)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            validate_rules(schema.get("items", {}), v, None, "%s[%d]" % (path, i), errs)
    for rule in schema.get("x-kubernetes-validations", []):
        uses_old = "oldSelf" in rule["rule"]
        if uses_old and old is None:
            continue
        env = {"self": value}
        if uses_old:
            env["oldSelf"] = old
        try:
            ok = truth(cel_eval(Parser(rule["rule"]).parse(), env))
        except CelError as e:
            errs.append('%s: Invalid value: "%s": evaluation error: %s' % (p, schema.get("type"), e))
            continue
        if not ok:
            errs.append('%s: Invalid value: "%s": %s'
                        % (p, schema.get("type"), rule.get("message", "failed rule: " + rule["rule"])))


def validate_object(crds, obj, old=None):
    kind = obj.get("kind")
    if obj.get("apiVersion") != "quaystorage.io/v1alpha1" or kind not in crds:
        return ["no matches for kind %r in version %r" % (kind, obj.get("apiVersion"))]
    schema = crds[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    obj = copy.deepcopy(obj)
    apply_defaults(schema, obj)
    if old is not None:
        old = copy.deepcopy(old)
        apply_defaults(schema, old)
    errs = []
    name = (obj.get("metadata") or {}).get("name", "")
    if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", name):
        errs.append("metadata.name: Invalid value: %s" % go_repr(name))
    validate(schema, obj, "", errs, root=True)
    strict = [e for e in errs if e.startswith("strict decoding error")]
    if strict:
        return strict  # the request fails while decoding, before validation
    if any(b in e for e in errs for b in BLOCKING):
        return errs + [NOT_CHECKED]
    validate_rules(schema, obj, old, "", errs)
    return errs


# ---------------------------------------------------------------------------
# Lint of our CRDs.
# ---------------------------------------------------------------------------
ERE_UNSAFE = re.compile(r"\(\?|\\[dDwWsSbB]")
INT_FORMATS = {"int32", "int64"}


def lint_schema(where, s, path, in_spec):
    if "properties" in s and "additionalProperties" in s:
        fail(where, "%s: properties and additionalProperties together (not structural)" % path)
    if not ("type" in s or s.get("x-kubernetes-int-or-string") or s.get("x-kubernetes-preserve-unknown-fields")):
        fail(where, "%s: no type" % path)
    t = s.get("type")
    if t == "array":
        if "maxItems" not in s:
            fail(where, "%s: array without maxItems" % path)
        if "items" not in s:
            fail(where, "%s: array without items" % path)
        else:
            lint_schema(where, s["items"], path + "[]", in_spec)
    if t == "object":
        if not ("properties" in s or "additionalProperties" in s or s.get("x-kubernetes-preserve-unknown-fields")) \
                and path != ".metadata":
            fail(where, "%s: object without properties or additionalProperties" % path)
        if isinstance(s.get("additionalProperties"), dict):
            ap = s["additionalProperties"]
            if "maxProperties" not in s:
                fail(where, "%s: map without maxProperties" % path)
            lint_schema(where, ap, path + "{}", in_spec)
        for req in s.get("required", []):
            if req not in (s.get("properties") or {}):
                fail(where, "%s: required %s is not a property" % (path, req))
    if t == "string" and path not in (".apiVersion", ".kind") \
            and not any(k in s for k in ("enum", "format", "maxLength", "pattern")):
        fail(where, "%s: string without enum, format, maxLength or pattern" % path)
    if "enum" in s:
        desc = s.get("description", "")
        for v in s["enum"]:
            if str(v) not in desc:
                fail(where, "%s: enum value %r not listed in the description" % (path, v))
    if t == "integer":
        if s.get("format") not in INT_FORMATS:
            fail(where, "%s: integer without format int32/int64" % path)
        if "minimum" not in s:
            fail(where, "%s: integer without minimum" % path)
        if in_spec and "maximum" not in s:
            fail(where, "%s: spec integer without maximum" % path)
    if t == "number":
        fail(where, "%s: floats are not used in this API (integers only)" % path)
    if "pattern" in s:
        try:
            re.compile(s["pattern"])
        except re.error as e:
            fail(where, "%s: pattern does not compile: %s" % (path, e))
        if ERE_UNSAFE.search(s["pattern"]):
            fail(where, "%s: pattern uses constructs outside POSIX ERE" % path)
    if "default" in s:
        errs = []
        validate(s, copy.deepcopy(s["default"]), path, errs)
        if errs:
            fail(where, "%s: default does not validate: %s" % (path, errs))
    for rule in s.get("x-kubernetes-validations", []):
        if not rule.get("message") or "\n" in rule["message"]:
            fail(where, "%s: rule %r needs a one-line message" % (path, rule.get("rule")))
        try:
            Parser(rule["rule"]).parse()
        except CelError as e:
            fail(where, "%s: rule %r is outside the simulator's CEL subset: %s" % (path, rule["rule"], e))
    for name, sub in (s.get("properties") or {}).items():
        if path == "" and name == "metadata":
            # kube-apiserver forbids anything but type (and name/generateName) here
            if sub != {"type": "object"}:
                fail(where, ".metadata: must be exactly {type: object} in a structural schema")
            continue
        if not sub.get("description"):
            fail(where, "%s.%s: no description" % (path, name))
        lint_schema(where, sub, "%s.%s" % (path, name), in_spec or (path == "" and name == "spec"))


def schema_at(schema, jsonpath):
    node = schema
    for part in jsonpath.strip(".").split("."):
        if node.get("type") == "array":
            node = node.get("items", {})
        props = node.get("properties") or {}
        if part not in props:
            return None
        node = props[part]
    return node


def rules_of(s):
    return [r["rule"] for r in s.get("x-kubernetes-validations", [])]


crds = {}
for path in sorted(p for p in glob.glob(os.path.join(SRC, "crds", "*.yaml"))
                   if os.path.basename(p) != "kustomization.yaml"):
    where = os.path.relpath(path, SRC)
    docs = load_docs(path)
    if len(docs) != 1:
        fail(where, "expected one document, found %d" % len(docs))
        continue
    crd = docs[0]
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1" or crd.get("kind") != "CustomResourceDefinition":
        fail(where, "not an apiextensions.k8s.io/v1 CustomResourceDefinition")
        continue
    spec, names = crd["spec"], crd["spec"]["names"]
    kind = names["kind"]
    if spec["group"] != "quaystorage.io" or spec["scope"] != "Namespaced":
        fail(where, "group must be quaystorage.io and scope Namespaced")
    if crd["metadata"]["name"] != "%s.%s" % (names["plural"], spec["group"]):
        fail(where, "metadata.name must be <plural>.<group>")
    if os.path.basename(path) != crd["metadata"]["name"] + ".yaml":
        fail(where, "file name must be <crd name>.yaml")
    if names.get("singular") != kind.lower() or names.get("listKind") != kind + "List" \
            or names.get("plural") != kind.lower() + "s":
        fail(where, "names.singular/plural/listKind do not follow kind %s" % kind)
    if not names.get("shortNames") or "quaystorage" not in names.get("categories", []):
        fail(where, "shortNames and category quaystorage are required")
    vers = spec["versions"]
    if [v["name"] for v in vers] != ["v1alpha1"] or not vers[0]["served"] or not vers[0]["storage"]:
        fail(where, "exactly v1alpha1, served and storage")
        continue
    v = vers[0]
    if v.get("subresources", {}).get("status") != {}:
        fail(where, "status subresource missing")
    schema = v["schema"]["openAPIV3Schema"]
    cols = {c["name"]: c for c in v.get("additionalPrinterColumns", [])}
    want_cols = ["Phase", "Target", "Age"] + (["Progress"] if kind == "StorageMigration" else [])
    for c in want_cols:
        if c not in cols:
            fail(where, "printer column %s missing" % c)
    for c in cols.values():
        if c["type"] not in ("string", "integer", "boolean", "date"):
            fail(where, "printer column %s has type %s" % (c["name"], c["type"]))
        if c["jsonPath"] != ".metadata.creationTimestamp" and schema_at(schema, c["jsonPath"]) is None:
            fail(where, "printer column %s: %s is not in the schema" % (c["name"], c["jsonPath"]))
        if c["name"] != "Age" and not c.get("description"):
            fail(where, "printer column %s has no description" % c["name"])
    if "Progress" in cols and cols["Progress"]["jsonPath"] != ".status.progress.percent":
        fail(where, "Progress column must show .status.progress.percent")
    if "description" not in schema:
        fail(where, "top-level description missing")
    lint_schema(where, schema, "", False)
    target = schema_at(schema, ".spec.target")
    if target is None or "self == oldSelf" not in rules_of(target):
        fail(where, "spec.target must carry the immutability rule self == oldSelf")
    tprops = target["properties"] if target else {}
    for t in (tprops.get("type", {}).get("enum") or []):
        field = t[0].lower() + t[1:]
        if field not in tprops or not any("'%s'" % t in r and field in r for r in rules_of(target)):
            fail(where, "target union member %s needs field %s and a rule tying them" % (t, field))
    if kind == "StorageMigration":
        rp = schema_at(schema, ".spec.runPolicy")
        if rp is None or not any("oldSelf" in r and "Abort" in r for r in rules_of(rp)):
            fail(where, "spec.runPolicy must keep Abort one-way with a transition rule")
        # Refused names are declared properties with an always-failing rule: CEL cannot
        # see undeclared keys of a preserve-unknown-fields object on a real server.
        params = schema_at(schema, ".spec.destination.parameters") or {}
        if not params.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in params:
            fail(where, "destination.parameters must be a preserve-unknown-fields object")
        pprops = params.get("properties") or {}
        for n in ("access_key", "secret_key", "s3_access_key", "s3_secret_key", "sts_user_access_key",
                  "sts_user_secret_key", "swift_password", "temp_url_key", "azure_account_key",
                  "sas_token", "connection_string", "akamai_shared_secret"):
            if n not in pprops:
                fail(where, "secret-bearing parameter %s is not refused" % n)
        for n, sub in pprops.items():
            if rules_of(sub) != ["false"] or n not in sub["x-kubernetes-validations"][0].get("message", ""):
                fail(where, "parameters.%s must be refused by rule false with a message naming it" % n)
            if n not in params.get("description", ""):
                fail(where, "refused parameter %s is not listed in the parameters description" % n)
    if kind == "ReadOnlyWindow":
        rules = " ".join(rules_of(schema_at(schema, ".spec")))
        if "timestamp(self.endTime) > timestamp(self.startTime)" not in rules \
                or "has(self.endTime) && has(self.durationSeconds)" not in rules:
            fail(where, "ReadOnlyWindow needs the endTime rules")
    crds[kind] = crd

if set(crds) != {"StorageMigration", "ReadOnlyWindow"}:
    fail("crds/", "expected the StorageMigration and ReadOnlyWindow CRDs, found %s" % sorted(crds))

# Self-test of the evaluator on a few expressions, so a broken evaluator cannot make
# every example "valid".
for expr, want in (("!has(self.a) || self.a.b == 'x'", True), ("self.m.all(k, !(k in ['s']))", False),
                   ("timestamp('2030-01-01T00:00:00Z') > timestamp('2029-12-31T23:00:00-02:00')", False),
                   ("self.l.exists_one(x, x > 1) && size(self.l) == 2", True),
                   ("self.a.b.startsWith('x') ? 1 == 1 : false", True)):
    got = cel_eval(Parser(expr).parse(), {"self": {"a": {"b": "x"}, "m": {"s": 1}, "l": [1, 2]}})
    if got != want:
        fail("evaluator", "%s gave %r, want %r" % (expr, got, want))
for bad in ("self.a.lowerAscii()", "self.x + 1 > 2", "int(self.a) > 1", "type(self.a) == string"):
    try:
        Parser(bad).parse()
        fail("evaluator", "%r accepted although outside the subset" % bad)
    except CelError:
        pass

# ---------------------------------------------------------------------------
# Valid examples.
# ---------------------------------------------------------------------------
seen = set()
for path in sorted(glob.glob(os.path.join(SRC, "deploy", "examples", "*.yaml"))):
    where = os.path.relpath(path, SRC)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.startswith("# When to use:"):
        fail(where, "must open with a '# When to use:' comment")
    docs = load_docs(path)
    if len(docs) != 1:
        fail(where, "expected one document")
        continue
    obj = docs[0]
    for e in validate_object(crds, obj):
        fail(where, e)
    spec = obj.get("spec") or {}
    t = (spec.get("target") or {}).get("type")
    if obj.get("kind") == "StorageMigration":
        d = spec.get("destination") or {}
        seen.add(("SM", t, d.get("driver") or (spec.get("imageRegistryDestination") or {}).get("type")))
    else:
        seen.add(("ROW", spec.get("mode")))
for need in (("SM", "QuayRegistry", "S3Storage"), ("SM", "QuayRegistry", "SwiftStorage"),
             ("SM", "OpenShiftImageRegistry", "Swift"), ("ROW", "DisablePushes"), ("ROW", "ReadOnly"),
             ("ROW", "ScaleDown")):
    if need not in seen:
        fail("deploy/examples", "no example for %s" % (need,))

# ---------------------------------------------------------------------------
# Invalid examples: header names the field and the exact expected error(s). A file
# with two documents is an update: the first is created, the second replaces it.
# ---------------------------------------------------------------------------
invalid = sorted(glob.glob(os.path.join(SRC, "tests", "fixtures", "invalid", "*.yaml")))
if len(invalid) < 8:
    fail("tests/fixtures/invalid", "at least 8 invalid CRs expected, found %d" % len(invalid))
for path in invalid:
    where = os.path.relpath(path, SRC)
    with open(path, encoding="utf-8") as f:
        header = []
        for line in f:
            if not line.startswith("#"):
                break
            header.append(line[1:].strip())
    field = [h.split(":", 1)[1].strip() for h in header if h.startswith("Field:")]
    expected = [h.split(":", 1)[1].strip() for h in header if h.startswith("Expected error:")]
    if len(field) != 1 or not expected:
        fail(where, "header needs one 'Field:' and at least one 'Expected error:' line")
        continue
    docs = load_docs(path)
    if len(docs) == 2:
        pre = validate_object(crds, docs[0])
        if pre:
            fail(where, "the first (existing) object must be valid: %s" % pre)
        got = validate_object(crds, docs[1], old=docs[0])
    elif len(docs) == 1:
        got = validate_object(crds, docs[0])
    else:
        fail(where, "one document, or two for an update")
        continue
    if sorted(got) != sorted(expected):
        fail(where, "errors %s, want %s" % (got, expected))
    for e in expected:
        if e != NOT_CHECKED and not (e.startswith(field[0] + ":") or '"%s"' % field[0] in e):
            fail(where, "expected error %r does not name field %s" % (e, field[0]))
    if expected[0] == NOT_CHECKED:
        fail(where, "the first expected error must be the one naming the field")

# ---------------------------------------------------------------------------
# Third-party CRD fixtures: verbatim copies of published schemas; the body (below
# the provenance header) must keep the sha256 it had when copied.
# ---------------------------------------------------------------------------
FIXTURES = {
    "quayregistries.quay.redhat.com.crd.yaml":
        ("quayregistries.quay.redhat.com", 90633,
         "632480476402eb9c9bac9689cc0cb530c79d3c587a2dfa8b327f584ffad8500d"),
    "configs.imageregistry.operator.openshift.io.crd.yaml":
        ("configs.imageregistry.operator.openshift.io", 148502,
         "c3ae3a1bcb11754c33f96089cd4de77fa0f14f0831464bc5f09cc9d4a8b8ca60"),
    "clusteroperators.config.openshift.io.crd.yaml":
        ("clusteroperators.config.openshift.io", 7850,
         "1f5a3e09147b41d4d09dc1578eb47cb0320461de8581143e476c5eda86dac499"),
}
for fname, (name, size, digest) in FIXTURES.items():
    path = os.path.join(SRC, "tests", "fixtures", "crds", fname)
    where = os.path.relpath(path, SRC)
    if not os.path.exists(path):
        fail(where, "missing")
        continue
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    header = [l for l in lines if l.startswith("#")]
    n = 0
    while n < len(lines) and lines[n].startswith("#"):
        n += 1
    body = "\n".join(lines[n:])
    if not any("Source:" in h for h in header) or not any("commit:" in h for h in header):
        fail(where, "provenance header (Source:, commit:) missing")
    if len(body) != size:
        fail(where, "body is %d characters, the published file has %d" % (len(body), size))
    elif hashlib.sha256(body.encode("utf-8")).hexdigest() != digest:
        fail(where, "body differs from the copied published file (sha256)")
    docs = load_docs(path)
    if len(docs) != 1 or docs[0].get("kind") != "CustomResourceDefinition" \
            or docs[0]["metadata"]["name"] != name:
        fail(where, "not the CRD %s" % name)

if failures:
    print("\n".join(failures))
    print("crds lint: %d problem(s)" % len(failures))
    sys.exit(1)
print("crds lint: ok (%d CRDs, %d examples, %d invalid CRs, %d fixtures)"
      % (len(crds), len(glob.glob(os.path.join(SRC, "deploy", "examples", "*.yaml"))), len(invalid),
         len(FIXTURES)))
PY
