#!/usr/bin/env python3
"""Name the definitions of the built-in schema, for OpenAPI documents that `$ref` them.

Usage: names.py SWAGGER.json ../src/schema/builtin.json > ../src/schema/names.json

Kustomize's `openapi:` documents may refer to Kubernetes' own definitions
(`#/definitions/io.k8s.api.core.v1.PodTemplateSpec`) without defining them; Kustomize
resolves those against its built-in schema. The compiled schema (builtin.json) has no
definition names, so this file gives each definition reachable from a kind the way to
reach it: [group, version, kind, steps], where a step is "f:<field>" (a struct field),
"[]" (a list's items) or "{}" (a map's values). Shortest paths, kinds in file order.
"""
import json
import sys
from collections import deque


def ref_name(schema):
    r = schema.get("$ref")
    if r is None and "allOf" in schema and len(schema["allOf"]) == 1:
        r = schema["allOf"][0].get("$ref")
    return r.split("/")[-1] if r else None


def main():
    defs = json.load(open(sys.argv[1]))["definitions"]
    builtin = json.load(open(sys.argv[2]))
    by_gvk = {}
    for name, d in defs.items():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name
    names = {}
    for k in builtin["kinds"]:
        root = by_gvk.get((k["g"], k["v"], k["k"]))
        if root is None:
            continue
        queue = deque([(root, [])])
        seen = {root}
        while queue:
            name, path = queue.popleft()
            names.setdefault(name, [k["g"], k["v"], k["k"], path])
            stack = [(defs.get(name, {}), path)]
            while stack:
                schema, p = stack.pop()
                child = ref_name(schema)
                if child is not None and p is not path:
                    if child not in seen:
                        seen.add(child)
                        queue.append((child, p))
                    continue
                for f, s in sorted(schema.get("properties", {}).items()):
                    stack.append((s, p + ["f:" + f]))
                if isinstance(schema.get("items"), dict):
                    stack.append((schema["items"], p + ["[]"]))
                if isinstance(schema.get("additionalProperties"), dict):
                    stack.append((schema["additionalProperties"], p + ["{}"]))
    json.dump(names, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
