"""Keys that are set but change nothing: ``arxdeploy validate`` prints them as warnings (exit 0).

A config passes validation when every key is well formed, but some keys only mean something for
one target, or only for the objects arxdeploy builds itself. With ``target.kubernetes.manifests``
the templates are what is applied, so the keys that describe objects (``image``,
``container_port``, ``resources``, ``autoscaling``, ``egress``) have no effect there; this module
names each one that is set, with the line, so that nobody believes it applies.
"""

from __future__ import annotations

from pydantic import BaseModel

from arxdeploy.config.keys import KeyPath, dotted
from arxdeploy.config.loader import LoadedConfig
from arxdeploy.config.problems import mask
from arxdeploy.errors import ConfigProblem

# Keys of target.kubernetes that only shape the built-in objects, and what takes their place.
_OBJECT_KEYS = {
    "image": "the image is the one in the Deployment template",
    "container_port": "the checks use the container port named http in the Deployment template",
}
# Keys of environments.<name> that only shape the built-in objects.
_ENVIRONMENT_OBJECT_KEYS = {
    "resources": "requests and limits are the Deployment template's",
    "autoscaling": "the bounds are the HorizontalPodAutoscaler template's; its minReplicas is set to replicas",
    "egress": "egress is what the NetworkPolicy templates allow",
}


def _is_set(model: BaseModel, key: str) -> bool:
    """Whether ``key`` was written in the file (a default, or an explicit null, is not a setting)."""
    return key in model.model_fields_set and getattr(model, key) is not None


def unused_keys(loaded: LoadedConfig) -> list[ConfigProblem]:
    """One warning per key that is set but has no effect with this target (and template folder)."""
    config = loaded.config
    warnings: list[ConfigProblem] = []

    def warn(key: KeyPath, message: str, hint: str) -> None:
        text = mask(message, loaded.secrets) or ""
        warnings.append(ConfigProblem(str(loaded.path), loaded.line_of(*key), dotted(key), text, hint))

    target = config.target
    other = "kubernetes" if target.type == "local" else "local"
    if getattr(target, other) is not None:
        warn(("target", other), f"has no effect: target.type is {target.type}", f"remove it, or set type: {other}")
    kubernetes = target.kubernetes if target.type == "kubernetes" else None
    for name, environment in config.environments.items():
        for key in ("listen", "sticky"):
            if target.type == "kubernetes" and _is_set(environment, key):
                warn(
                    ("environments", name, key),
                    "has no effect on the kubernetes target: the Service takes the traffic",
                    "remove it",
                )
        for key, instead in _ENVIRONMENT_OBJECT_KEYS.items():
            if not _is_set(environment, key):
                continue
            where: KeyPath = ("environments", name, key)
            if target.type == "local":
                warn(where, "has no effect on the local target: it shapes Kubernetes objects", "remove it")
            elif kubernetes is not None and kubernetes.manifests is not None:
                folder = f"{kubernetes.manifests}/{name}/"
                warn(
                    where,
                    f"has no effect: with target.kubernetes.manifests, the templates in {folder} are applied",
                    instead,
                )
    if kubernetes is not None and kubernetes.manifests is not None:
        folders = f"{kubernetes.manifests}/<environment>/"
        for key, instead in _OBJECT_KEYS.items():
            if _is_set(kubernetes, key):
                message = f"has no effect: with target.kubernetes.manifests, the templates in {folders} are applied"
                warn(("target", "kubernetes", key), message, instead)
    return sorted(warnings, key=lambda w: (w.line is None, w.line or 0))
