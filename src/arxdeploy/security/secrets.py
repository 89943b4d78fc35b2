"""Gate ``secrets``: every Secret the pods reference exists, and no secret is written in plain text.

References are read from the rendered Deployments' pod templates, as the kubelet resolves them
(https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets): env ``secretKeyRef``,
``envFrom`` ``secretRef``, ``secret`` and projected volumes, and ``imagePullSecrets``. A
reference marked ``optional: true`` may be missing: the pod starts without it. Existence is read
as metadata only (``Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1``,
https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables-or-partial-object-metadata
answers a ``get`` with the object's ``metadata`` alone), so nothing the gate reads carries a value.
RBAC cannot grant that view alone: it authorizes the verb, not the representation, so the role
still needs ``get`` on Secrets (https://github.com/kubernetes/kubernetes/issues/48128: "for
performance, not for security"). Only with ``read_values`` are the Secrets read
whole, to check the referenced keys; their values are looked at for key names only, never kept.

The plaintext scan runs detect-secrets (its plugins and filters as shipped) over the config, the
manifest templates and the rendered objects; a finding names the file, the line and the kind of
secret, never the secret. A Secret with data among the rendered objects is itself a finding:
base64 is not encryption, and such values end up in the repository.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from arxdeploy.domain.security import Finding, GateResult, Severity, Status
from arxdeploy.targets.kubernetes.rest import SECRETS, Kind

GATE = "secrets"
Obj = dict[str, Any]
# detect-secrets' KeywordDetector ("password: x" and the like): on a YAML comment line it fires on
# prose ("Secrets: `list`, because ..."); the detectors of known formats still read comments.
KEYWORD = "Secret Keyword"
INSTALL_HINT = "pip install 'arxdeploy[secrets]' (detect-secrets), or set security.secrets.scan: false"


class SecretReader(Protocol):
    """What the gate reads from the cluster (``targets.kubernetes.rest.Objects`` is one)."""

    def find(self, kind: Kind, namespace: str, name: str, *, metadata_only: bool = False) -> Obj | None: ...


@dataclass(frozen=True)
class SecretsSettings:
    read_values: bool = False  # also check the referenced keys (reads the Secrets)
    scan: bool = True  # detect-secrets over the config, templates and rendered objects


def settings_from(section: Any) -> SecretsSettings:
    """The settings of ``security.secrets`` (``config.models.SecretsGate``), read by attribute."""
    return SecretsSettings(read_values=section.read_values, scan=section.scan)


@dataclass
class Reference:
    """One Secret as the pods use it: who uses it, for which keys, and whether it may be missing."""

    name: str
    used_by: list[str] = field(default_factory=list)  # "Deployment arxos-green env DATABASE_URL"
    keys: dict[str, bool] = field(default_factory=dict)  # key -> optional
    optional: bool = True  # every use optional

    def add(self, where: str, *, optional: bool, key: str | None = None) -> None:
        if where not in self.used_by:
            self.used_by.append(where)
        self.optional = self.optional and optional
        if key is not None:
            self.keys[key] = self.keys.get(key, True) and optional


def references(objects: Sequence[Obj]) -> dict[str, Reference]:
    """The Secrets the Deployments among ``objects`` reference, by name."""
    found: dict[str, Reference] = {}

    def use(name: object, where: str, *, optional: object = False, key: object = None) -> None:
        if isinstance(name, str) and name:
            ref = found.setdefault(name, Reference(name))
            ref.add(where, optional=optional is True, key=key if isinstance(key, str) else None)

    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        owner = f"Deployment {obj['metadata']['name']}"
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for pull in pod.get("imagePullSecrets") or []:
            use(pull.get("name"), f"{owner} imagePullSecrets")
        for volume in pod.get("volumes") or []:
            secret = volume.get("secret")
            sources = [s.get("secret") for s in (volume.get("projected") or {}).get("sources") or []]
            for source, name_key in [(secret, "secretName"), *((s, "name") for s in sources)]:
                if isinstance(source, dict):
                    where = f"{owner} volume {volume.get('name')}"
                    use(source.get(name_key), where, optional=source.get("optional"))
                    for item in source.get("items") or []:
                        use(source.get(name_key), where, optional=source.get("optional"), key=item.get("key"))
        for containers in ("initContainers", "containers"):
            for container in pod.get(containers) or []:
                for source in container.get("envFrom") or []:
                    ref = source.get("secretRef")
                    if isinstance(ref, dict):
                        use(ref.get("name"), f"{owner} envFrom", optional=ref.get("optional"))
                for variable in container.get("env") or []:
                    ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                    if isinstance(ref, dict):
                        where = f"{owner} env {variable.get('name')}"
                        use(ref.get("name"), where, optional=ref.get("optional"), key=ref.get("key"))
    return found


def scanned_files(config_file: Path, files: Mapping[Path, bytes | None]) -> dict[str, str]:
    """What the plaintext scan reads: the config file and the files it names (``Snapshot.files``:
    templates, scripts), by their path relative to the config file's folder where they are under it
    (``deploy/../k8s/x.yaml`` reads ``k8s/x.yaml``). Files that are not UTF-8 text are left out."""
    base = Path(os.path.normpath(config_file.parent))
    out: dict[str, str] = {}
    for path, content in [(config_file, _read(config_file)), *files.items()]:
        if content is None:
            continue
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            continue
        where = Path(os.path.normpath(path))
        out[os.path.relpath(where, base) if where.is_absolute() else str(where)] = text
    return out


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def check_secrets(
    *,
    namespace: str,
    objects: Sequence[Obj],
    reader: SecretReader | None,
    settings: SecretsSettings | None = None,
    files: Mapping[str, str] | None = None,
    secret_names: Collection[str] = (),
) -> GateResult:
    """``objects``: what the deployment applies (rendered); ``reader``: the cluster (None on the
    local target: no references to check); ``files``: name -> text of the config and the manifest
    templates, scanned for plaintext secrets with the rendered objects."""
    settings = settings or SecretsSettings()
    findings: list[Finding] = []
    refs = references(objects)
    rendered = {str(o["metadata"]["name"]) for o in objects if o.get("kind") == "Secret"}
    checked: list[str] = []
    for name, ref in sorted(refs.items()):
        if reader is None or name in rendered:
            continue
        found = reader.find(SECRETS, namespace, name, metadata_only=not settings.read_values)
        checked.append(name)
        if found is None:
            if not ref.optional:
                message = f"Secret {name} does not exist in namespace {namespace}; used by {'; '.join(ref.used_by)}"
                findings.append(Finding(rule="secret.missing", message=message, severity=Severity.HIGH))
            continue
        if settings.read_values:
            present = set((found.get("data") or {}).keys()) | set((found.get("stringData") or {}).keys())
            found.clear()  # the values go no further than this line
            for key, optional in sorted(ref.keys.items()):
                if key not in present and not optional:
                    message = (
                        f"Secret {name} in namespace {namespace} has no key {key}; used by {'; '.join(ref.used_by)}"
                    )
                    findings.append(Finding(rule="secret.missing-key", message=message, severity=Severity.HIGH))
    facts: dict[str, Any] = {
        "namespace": namespace,
        "referenced": sorted(refs),
        "checked": checked,
        "keys_checked": settings.read_values,
    }
    for name in sorted(rendered):
        obj = next(o for o in objects if o.get("kind") == "Secret" and o["metadata"]["name"] == name)
        if obj.get("data") or obj.get("stringData"):
            message = f"Secret {name} is written out with its values in the manifests: keep them out of the repository"
            findings.append(Finding(rule="secret.in-manifest", message=message, severity=Severity.HIGH, file=name))
    if settings.scan:
        try:
            names = {*secret_names, *refs, *rendered}
            scanned = list(_plaintext(files or {}, objects, names))
        except ModuleNotFoundError:
            message = "detect-secrets is not installed, so plaintext secrets were not looked for"
            findings.append(Finding(rule="secret.scanner-missing", message=message, severity=Severity.HIGH))
            facts["hint"] = INSTALL_HINT
        else:
            findings += scanned
            facts["scanned"] = sorted({*(files or {}), "rendered objects"})
    if findings:
        summary = findings[0].message if len(findings) == 1 else f"{len(findings)} problems with secrets"
        return GateResult(GATE, Status.FAILED, summary, tuple(findings), facts)
    parts = [f"{len(refs)} referenced Secrets exist" + (" with their keys" if settings.read_values else "")]
    if reader is None:
        parts = ["no cluster to check references in"]
    if settings.scan:
        parts.append("no plaintext secret found")
    return GateResult(GATE, Status.PASSED, "; ".join(parts), facts=facts)


def _plaintext(files: Mapping[str, str], objects: Sequence[Obj], names: Collection[str]) -> Iterator[Finding]:
    """detect-secrets over ``files`` and the rendered objects (one YAML document each). ``names``:
    names of Secrets, which the keyword heuristic takes for values (``secretName: tls``,
    ``pull_secret: registry-login``): a finding whose value is one of them is a name, not a secret."""
    from detect_secrets.core.secrets_collection import SecretsCollection  # an optional extra, slow to import
    from detect_secrets.settings import default_settings

    texts = dict(files)
    for obj in objects:
        meta = obj.get("metadata") or {}
        texts[f"rendered {obj.get('kind')} {meta.get('name')}.yaml"] = yaml.safe_dump(obj, sort_keys=False)
    with tempfile.TemporaryDirectory(prefix="arx-scan-") as folder, default_settings():
        for index, (name, text) in enumerate(sorted(texts.items())):
            # the scanner reads files; the suffix tells it how to read them (YAML, JSON...)
            path = Path(folder) / f"{index}{Path(name).suffix or '.txt'}"
            path.write_text(text, encoding="utf-8")
            collection = SecretsCollection(root=folder)
            collection.scan_file(str(path))
            path.unlink()  # what was written goes as soon as it is read
            lines = text.splitlines()
            for _, secret in collection:
                line = lines[secret.line_number - 1] if 0 < secret.line_number <= len(lines) else ""
                if secret.type == KEYWORD and (line.lstrip().startswith("#") or secret.secret_value in names):
                    continue  # prose in a comment, or the name of a Secret: not a value
                yield Finding(
                    rule=f"secret.{secret.type.replace(' ', '')}",
                    message=f"{name}:{secret.line_number}: looks like a {secret.type}",
                    severity=Severity.HIGH,
                    file=name,
                    line=secret.line_number,
                )


def check(*, config: Any, environment: str, version: str, target: Any, loaded: Any, snapshot: Any) -> GateResult:
    """The gate as the security step runs it: on Kubernetes the references of what deploying
    ``version`` would apply, read in the cluster; on any target the plaintext scan of the config
    and the files it names (``snapshot``), and of the rendered objects."""
    section = config.security.secrets
    files = scanned_files(loaded.path, snapshot.files) if section.scan else {}
    pull_secret = config.security.image_digest.pull_secret
    names = [pull_secret] if pull_secret else []
    if config.target.type != "kubernetes":
        settings = settings_from(section)
        return check_secrets(namespace="", objects=[], reader=None, settings=settings, files=files, secret_names=names)
    from arxdeploy.security import cluster

    objects, rendered = cluster.candidate_objects(target, environment, version)
    try:
        namespace = target.spec.namespace_for(environment)
        return check_secrets(
            namespace=namespace, objects=rendered, reader=objects, settings=settings_from(section), files=files,
            secret_names=names,
        )  # fmt: skip
    finally:
        objects.close()
