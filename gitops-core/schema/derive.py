#!/usr/bin/env python3
"""Derive gitops-core's merge schema from a Kubernetes OpenAPI v2 document.

Usage: derive.py SWAGGER.json > ../src/schema/builtin.json

The output is a type graph, not a flat path table, because some types are
recursive (a CRD's JSONSchemaProps). Node 0 is a scalar, node 1 untyped JSON.

  nodes[i] = {"t": "s"}                              scalar
           | {"t": "u"}                              untyped (any JSON)
           | {"t": "ua"}                             untyped and atomic (RawExtension)
           | {"t": "o", "f": {field: node}, "a": 1?} struct (a: atomic map type)
           | {"t": "m", "v": node, "a": 1?}          map with free keys
           | {"t": "l", "i": node, "mk": key?, "ps": strategy?,
              "lt": "atomic"|"set"|"map"?, "lk": [keys]?}   list
  kinds[j] = {"g", "v", "k", "n": node, "r": plural, "ns": namespaced,
              "verbs": [...], "sub": {subresource: [verbs]}}

Lists keep the raw extensions: strategic merge patch reads mk/ps, server-side
apply reads lt/lk; the Rust side applies each consumer's defaults.
"""
import json
import re
import sys

# An embedded object of any type, replaced as a whole (structured-merge-diff's untyped
# atomic: managed fields own it as one leaf).
ATOMIC_UNTYPED_DEFS = {
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
}

UNTYPED_DEFS = {
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
}


def main():
    doc = json.load(open(sys.argv[1]))
    defs = doc["definitions"]
    nodes = [{"t": "s"}, {"t": "u"}]
    memo = {}

    def ref_name(schema):
        r = schema.get("$ref")
        if r is None and "allOf" in schema and len(schema["allOf"]) == 1:
            r = schema["allOf"][0].get("$ref")
        return r.split("/")[-1] if r else None

    def node_for(schema):
        name = ref_name(schema)
        if name is not None:
            return def_node(name)
        t = schema.get("type")
        if t == "array":
            item = node_for(schema.get("items", {}))
            n = {"t": "l", "i": item}
            if "x-kubernetes-patch-merge-key" in schema:
                n["mk"] = schema["x-kubernetes-patch-merge-key"]
            if "x-kubernetes-patch-strategy" in schema:
                n["ps"] = schema["x-kubernetes-patch-strategy"]
            if "x-kubernetes-list-type" in schema:
                n["lt"] = schema["x-kubernetes-list-type"]
            if "x-kubernetes-list-map-keys" in schema:
                n["lk"] = schema["x-kubernetes-list-map-keys"]
            nodes.append(n)
            return len(nodes) - 1
        if t == "object" and "properties" in schema:
            return struct_node(schema)
        if t == "object" and "additionalProperties" in schema:
            v = node_for(schema["additionalProperties"])
            n = {"t": "m", "v": v}
            if schema.get("x-kubernetes-map-type") == "atomic":
                n["a"] = 1
            nodes.append(n)
            return len(nodes) - 1
        if t == "object":
            return 1
        if t is None and not schema:
            return 1
        return 0

    def struct_node(schema):
        idx = len(nodes)
        nodes.append(None)
        fields = {}
        for fname, fs in sorted(schema.get("properties", {}).items()):
            fields[fname] = node_for(fs)
        n = {"t": "o", "f": fields}
        if schema.get("x-kubernetes-map-type") == "atomic":
            n["a"] = 1
        nodes[idx] = n
        return idx

    def def_node(name):
        if name in memo:
            return memo[name]
        if name in UNTYPED_DEFS:
            memo[name] = 1
            return 1
        if name in ATOMIC_UNTYPED_DEFS:
            memo[name] = len(nodes)
            nodes.append({"t": "ua"})
            return memo[name]
        d = defs[name]
        if d.get("type") == "object" and "properties" in d:
            idx = len(nodes)
            nodes.append(None)
            memo[name] = idx
            fields = {f: node_for(fs) for f, fs in sorted(d["properties"].items())}
            n = {"t": "o", "f": fields}
            if d.get("x-kubernetes-map-type") == "atomic":
                n["a"] = 1
            nodes[idx] = n
            return idx
        idx = node_for(d) if d.get("type") in ("array", "object") else 0
        memo[name] = idx
        return idx

    # Resources from the paths: plural, namespaced, verbs, subresources.
    resources = {}
    for path, item in doc["paths"].items():
        is_watch = "/watch/" in path
        path = path.replace("/watch/", "/")
        m = re.match(r"^/(?:api/(v1)|apis/([^/]+)/([^/]+))/(?:namespaces/\{namespace\}/)?([a-z0-9-]+)(?:/\{name\}(?:/([a-z]+))?)?$", path)
        if not m:
            continue
        plural = m.group(4)
        if plural == "namespaces" and "{namespace}" in path:
            continue
        sub = m.group(5)
        namespaced = "{namespace}" in path
        for op in item.values():
            if not isinstance(op, dict) or "x-kubernetes-group-version-kind" not in op:
                continue
            gvk = op["x-kubernetes-group-version-kind"]
            action = op.get("x-kubernetes-action")
            if sub:
                key = (m.group(2) or "", m.group(1) or m.group(3), plural)
                r = resources.setdefault(key, {"subs": {}, "verbs": set(), "ns": namespaced, "kind": None})
                method = {"get": "get", "put": "update", "patch": "patch", "post": "create", "delete": "delete"}
                verbs = r["subs"].setdefault(sub, set())
                for http_method, op2 in item.items():
                    if isinstance(op2, dict) and http_method in method and "x-kubernetes-action" in op2:
                        verbs.add(method[http_method])
                continue
            key = (gvk["group"], gvk["version"], plural)
            r = resources.setdefault(key, {"subs": {}, "verbs": set(), "ns": namespaced, "kind": None})
            r["kind"] = gvk["kind"]
            r["ns"] = r["ns"] or namespaced
            verb = {"put": "update", "post": "create", "watchlist": "watch"}.get(action, action)
            if is_watch:
                r["verbs"].add("watch")
            elif verb:
                r["verbs"].add(verb)

    kinds = []
    for name in sorted(defs):
        d = defs[name]
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            if len(d.get("x-kubernetes-group-version-kind")) != 1:
                continue
            res = [(k, r) for k, r in resources.items()
                   if k[0] == gvk["group"] and k[1] == gvk["version"] and r["kind"] == gvk["kind"]]
            if not res or gvk["kind"].endswith("List"):
                continue
            (g, v, plural), r = res[0]
            kinds.append({"g": g, "v": v, "k": gvk["kind"], "n": def_node(name), "r": plural,
                          "ns": r["ns"], "verbs": sorted(r["verbs"]),
                          "sub": {k: sorted(v) for k, v in sorted(r["subs"].items())}})

    out = {"source": doc["info"].get("version", ""), "nodes": nodes, "kinds": kinds}
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
