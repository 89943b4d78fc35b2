"""The JSON Schema: well formed, fully described, and agreeing with the loader.

jsonschema is not a dependency, so a small validator for the keywords pydantic emits is
used instead; a test fails if the schema starts using a keyword it does not know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from arxdeploy.config import json_schema, load
from arxdeploy.errors import ConfigError

from .conftest import SEED_TEXT, Write, load_text

KNOWN_KEYWORDS = {
    "$schema", "$defs", "$ref", "title", "description", "default", "type", "properties", "patternProperties",
    "additionalProperties", "required", "items", "anyOf", "enum", "const", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "minItems", "minProperties", "minLength", "maxLength", "propertyNames", "format",
}  # fmt: skip
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "") -> Iterator[str]:
    """JSON Schema validation for the keywords in KNOWN_KEYWORDS (format is not checked)."""
    if "$ref" in schema:
        yield from errors(value, root["$defs"][schema["$ref"].removeprefix("#/$defs/")], root, at)
    if "type" in schema and not TYPES[schema["type"]](value):
        yield f"{at}: not {schema['type']}"
        return
    if "anyOf" in schema and all(list(errors(value, option, root, at)) for option in schema["anyOf"]):
        yield f"{at}: matches no anyOf option"
    if "enum" in schema and value not in schema["enum"]:
        yield f"{at}: not in enum"
    if "const" in schema and value != schema["const"]:
        yield f"{at}: not the const"
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{at}: does not match {schema['pattern']}"
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            yield f"{at}: wrong length"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            yield f"{at}: out of range"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield f"{at}: out of range"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield f"{at}: too few items"
        for index, item in enumerate(value):
            yield from errors(item, schema.get("items", {}), root, f"{at}[{index}]")
    if isinstance(value, dict):
        yield from _object_errors(value, schema, root, at)


def _object_errors(value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], at: str) -> Iterator[str]:
    if len(value) < schema.get("minProperties", 0):
        yield f"{at}: too few properties"
    for name in schema.get("required", []):
        if name not in value:
            yield f"{at}.{name}: required"
    for key, item in value.items():
        yield from errors(key, schema.get("propertyNames", {}), root, f"{at}.{key} (name)")
        if key in schema.get("properties", {}):
            yield from errors(item, schema["properties"][key], root, f"{at}.{key}")
            continue
        patterns = [s for p, s in schema.get("patternProperties", {}).items() if re.search(p, key)]
        for pattern_schema in patterns:
            yield from errors(item, pattern_schema, root, f"{at}.{key}")
        extra = schema.get("additionalProperties", True)
        if not patterns and extra is False:
            yield f"{at}.{key}: not allowed"
        elif not patterns and isinstance(extra, dict):
            yield from errors(item, extra, root, f"{at}.{key}")


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        yield schema
        for key, value in schema.items():
            if key in ("properties", "$defs", "patternProperties"):
                for sub in value.values():
                    yield from subschemas(sub)
            elif key not in ("default", "enum", "const"):
                yield from subschemas(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from subschemas(item)


SCHEMA = json_schema()


def test_schema_header() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["title"] == "arxdeploy deployment_config.yaml"
    assert json.loads(json.dumps(SCHEMA)) == SCHEMA


def test_schema_uses_only_known_keywords_and_its_refs_resolve() -> None:
    for schema in subschemas(SCHEMA):
        assert set(schema) <= KNOWN_KEYWORDS, set(schema) - KNOWN_KEYWORDS
        if "$ref" in schema:
            assert schema["$ref"].removeprefix("#/$defs/") in SCHEMA["$defs"]
        if "type" in schema:
            assert schema["type"] in TYPES
        if "pattern" in schema:
            re.compile(schema["pattern"])


def test_every_property_has_a_description() -> None:
    objects = [SCHEMA, *SCHEMA["$defs"].values()]
    properties = [(name, prop) for obj in objects for name, prop in obj.get("properties", {}).items()]
    assert len(properties) > 50
    missing = [name for name, prop in properties if not prop.get("description")]
    assert missing == []


def test_defaults_satisfy_their_own_schema() -> None:
    checked = 0
    for schema in subschemas(SCHEMA):
        for name, prop in schema.get("properties", {}).items():
            if "default" in prop:
                assert list(errors(prop["default"], prop, SCHEMA, name)) == []
                checked += 1
    assert checked > 20
    assert SCHEMA["$defs"]["BlueGreen"]["properties"]["traffic_switch_delay"]["default"] == "30s"


KITCHEN_SINK = """\
x-resources: &resources {requests: {cpu: 0.5, memory: 128M}, limits: {cpu: 2, memory: 1Gi}}
service: shop
state_dir: state
target:
  type: kubernetes
  local:
    listen: "[::1]:9000"
    command: [app, "{{literal}}", "{port}", "{color}", "{replica}", "{environment}", "{version}"]
    cwd: app
    env: {MODE: prod}
    drain_timeout: 500ms
    crash_loop_restarts: 5
    crash_loop_window: 2m
  kubernetes:
    kubeconfig: kube.yaml
    context: prod
    namespace: "{service}-{environment}"
    image: "registry.example.com/shop:{version}"
    container_port: 8000
    manifests: k8s
environments:
  qa:
    replicas: 1
    listen: localhost:9001
  prod:
    branches: [main]
    tags: ["v*"]
    replicas: 4
    approval_required: true
    monitoring_duration: 1h30m
    rollback_timeout: 90
    resources: *resources
deployment_strategy:
  type: blue_green
  blue_green: {enabled: false, traffic_switch_delay: 0, scale_down_delay: 1.5}
health_checks:
  endpoints: [/ready]
  interval: 1s
  timeout: 250ms
  success_threshold: 1
  failure_threshold: 1
  progress_deadline: 10m
  custom_checks:
    - {name: db, script: checks/db.sh, timeout: 5s}
approval_gates:
  enabled: true
  required_for: [prod, critical_updates]
  approvers: [a@example.com]
  timeout_minutes: 5
  auto_approve_staging: false
"""


@pytest.mark.parametrize("text", [SEED_TEXT, KITCHEN_SINK], ids=["seed", "kitchen sink"])
def test_valid_files_satisfy_the_schema(write: Write, text: str) -> None:
    load_text(write, text)
    assert list(errors(yaml.safe_load(text), SCHEMA, SCHEMA)) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("service: demo-api", "service: Demo"),
        ("service: demo-api\n", ""),
        ("replicas: 3", "replicas: 0"),
        ("interval: 2s", "interval: 10x"),
        ("  staging:", "  Staging:"),
        ("    monitoring_duration: 10m", "    monitoring_duraton: 10m"),
        ("type: local", "type: docker"),
        ("/api/metrics", "api/metrics"),
        ("memory: 64Mi", "memory: 64MB"),
    ],
)
def test_schema_rejects_what_the_loader_rejects(write: Write, old: str, new: str) -> None:
    text = SEED_TEXT.replace(old, new, 1)
    assert list(errors(yaml.safe_load(text), SCHEMA, SCHEMA)) != []
    with pytest.raises(ConfigError):
        load(write(text), {})
