"""A tiny kustomize, enough to render deploy/k8s offline (no kustomize or kubectl binary here).

It implements only the kustomization fields deploy/k8s uses, with kustomize's meaning:

- ``resources`` (files, or folders holding a kustomization) and ``components``
  (``kind: Component`` folders, applied in order after the resources);
- ``patches`` given as a ``path`` to strategic-merge patches, matched by kind and name: maps
  merge; the lists Kubernetes merges by key (containers by ``name``, env by ``name``…) merge
  by that key; every other list is replaced, as kustomize does;
- ``secretGenerator`` / ``configMapGenerator`` with ``literals`` (``behavior: create``) and
  ``generatorOptions.disableNameSuffixHash: true`` — generated names keep no hash suffix, so
  no reference needs rewriting;
- ``images`` (``newName``, ``newTag``) and ``namespace``.

Any other field raises :class:`Unsupported`: a manifest change that needs more of kustomize
fails the tests loudly instead of rendering something kustomize would not. Rendering the same
folders with ``kubectl kustomize`` gives the same objects (modulo key order); check that by
hand when changing this file.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

#: Fields of a kustomization this renderer understands.
SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "components",
        "namespace",
        "patches",
        "images",
        "secretGenerator",
        "configMapGenerator",
        "generatorOptions",
    }
)
#: Lists that strategic merge patches merge element by element, by this key (from the
#: Kubernetes API's patchMergeKey); every other list is replaced by the patch's.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
#: Kinds whose pod template (``spec.template.spec``) holds containers.
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})


class Unsupported(Exception):
    """The kustomization uses something this renderer does not implement."""


def load_documents(path: Path) -> list[Resource]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def build(folder: Path) -> list[Resource]:
    """Render the kustomization in ``folder`` like ``kustomize build folder``."""
    kustomization = _kustomization(folder, expected_kind="Kustomization")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        _add(resources, _resource_entry(folder / entry))
    for entry in kustomization.get("components", []):
        component_folder = (folder / entry).resolve()
        component = _kustomization(component_folder, expected_kind="Component")
        for resource_entry in component.get("resources", []):
            _add(resources, _resource_entry(component_folder / resource_entry))
        _transform(resources, component, component_folder)
    _transform(resources, kustomization, folder)
    return resources


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    for resource in resources:
        if key(resource) == (kind, name):
            return resource
    raise KeyError(f"no {kind} named {name!r}")


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    if resource["kind"] not in WORKLOAD_KINDS:
        return None
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def _kustomization(folder: Path, *, expected_kind: str) -> dict[str, Any]:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise Unsupported(f"{folder} has no kustomization.yaml")
    (data,) = load_documents(path)
    unknown = set(data) - SUPPORTED_FIELDS
    if unknown:
        raise Unsupported(f"{path}: fields this renderer does not implement: {sorted(unknown)}")
    if data.get("kind", "Kustomization") != expected_kind:
        raise Unsupported(f"{path}: expected kind {expected_kind}, got {data.get('kind')}")
    return dict(data)


def _resource_entry(path: Path) -> list[Resource]:
    path = path.resolve()
    if path.is_dir():
        return build(path)
    return load_documents(path)


def _add(resources: list[Resource], new: list[Resource]) -> None:
    known = {key(r) for r in resources}
    for resource in new:
        if key(resource) in known:
            raise Unsupported(f"{key(resource)} is defined twice (kustomize refuses that)")
        known.add(key(resource))
        resources.append(resource)


def _transform(resources: list[Resource], kustomization: dict[str, Any], folder: Path) -> None:
    hashless = kustomization.get("generatorOptions", {}).get("disableNameSuffixHash") is True
    for kind, field in (("Secret", "secretGenerator"), ("ConfigMap", "configMapGenerator")):
        for generator in kustomization.get(field, []):
            if not hashless:
                raise Unsupported(f"{folder}: generators need disableNameSuffixHash: true here")
            _add(resources, [_generate(kind, generator)])
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise Unsupported(f"{folder}: only `path:` strategic-merge patches, got {patch}")
        for document in load_documents(folder / patch["path"]):
            target = find(resources, document["kind"], document["metadata"]["name"])
            merged = _merge(target, document)
            target.clear()
            target.update(merged)
    for image in kustomization.get("images", []):
        _set_image(resources, image)
    if "namespace" in kustomization:
        for resource in resources:
            resource["metadata"]["namespace"] = kustomization["namespace"]


def _generate(kind: str, generator: dict[str, Any]) -> Resource:
    if set(generator) - {"name", "literals"} or generator.get("behavior", "create") != "create":
        raise Unsupported(f"generator {generator.get('name')}: only name + literals")
    pairs = dict(literal.split("=", 1) for literal in generator["literals"])
    resource: Resource = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": generator["name"]},
    }
    if kind == "Secret":
        resource["type"] = "Opaque"
        resource["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in pairs.items()}
    else:
        resource["data"] = pairs
    return resource


def _merge(base: Any, patch: Any, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            merged[name] = _merge(base[name], value, name) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        merge_key = MERGE_KEYS[field]
        merged_list = copy.deepcopy(base)
        for item in patch:
            for index, existing in enumerate(merged_list):
                if existing.get(merge_key) == item.get(merge_key):
                    merged_list[index] = _merge(existing, item)
                    break
            else:
                merged_list.append(item)
        return merged_list
    return copy.deepcopy(patch)


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        raise Unsupported(f"images entry {image}: only name, newName, newTag")
    for resource in resources:
        spec = pod_spec(resource)
        if spec is None:
            continue
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
                container["image"] = container["image"].rstrip(":")
