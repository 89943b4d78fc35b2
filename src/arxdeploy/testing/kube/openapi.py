"""Just enough OpenAPI v3 for kubectl: each PATCH operation declares ``fieldValidation``.

kubectl's default ``--validate=strict`` asks the server whether it validates fields itself by
looking for that parameter; without it kubectl tries to download the full schema and fails.
The emulator accepts ``fieldValidation`` but checks no schema (unknown fields are kept).
"""

from __future__ import annotations

from typing import Any

from arxdeploy.testing.kube.resources import RESOURCES, groups


def _prefix(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index() -> dict[str, Any]:
    paths = {
        _prefix(group, version): {"serverRelativeURL": f"/openapi/v3/{_prefix(group, version)}?hash=emulator"}
        for group, versions in groups().items()
        for version in versions
    }
    return {"paths": paths}


def document(group: str, version: str) -> dict[str, Any] | None:
    paths: dict[str, Any] = {}
    for resource in RESOURCES:
        if (resource.group, resource.version) != (group, version):
            continue
        scope = "namespaces/{namespace}/" if resource.namespaced else ""
        gvk = {"group": group, "version": version, "kind": resource.kind}
        parameters = [
            {"name": name, "in": "query", "schema": {"type": "string"}}
            for name in ("dryRun", "fieldManager", "fieldValidation", "force")
        ]
        operation = {
            "operationId": f"patch{resource.kind}",
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }
        if resource.stored:
            paths[f"/{_prefix(group, version)}/{scope}{resource.plural}/{{name}}"] = {"patch": operation}
        else:  # create only (selfsubjectreviews)
            create = dict(operation, operationId=f"create{resource.kind}", **{"x-kubernetes-action": "post"})
            paths[f"/{_prefix(group, version)}/{scope}{resource.plural}"] = {"post": create}
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths}
