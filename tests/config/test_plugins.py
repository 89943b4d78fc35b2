"""A pydantic plugin installed beside arxdeploy never sees the config's input (it holds secrets).

The plugin is a real one, found the way pydantic finds plugins (an entry point of an installed
distribution); it records every model whose validator it was offered and every input it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RECORDER = """
import json, os

class Recorder:
    def new_schema_validator(self, schema, schema_type, schema_type_path, schema_kind, config, plugin_settings):
        name = getattr(schema_type, "__name__", str(schema_type))

        class OnValidatePython:
            def on_enter(self, input, **kwargs):
                with open(os.environ["RECORDED"], "a") as f:
                    f.write(json.dumps({"model": name, "input": repr(input)}) + "\\n")

        with open(os.environ["RECORDED"], "a") as f:
            f.write(json.dumps({"model": name}) + "\\n")
        return OnValidatePython(), None, None

plugin = Recorder()
"""

CONFIG = """\
service: demo
store_url: ${STORE_URL}
target:
  type: local
  local:
    command: [app]
environments:
  staging:
    replicas: 1
"""

RUN = """
import os, sys
from pathlib import Path
from pydantic import BaseModel
from arxdeploy.config import load

loaded = load(Path(sys.argv[1]), os.environ)
assert loaded.config.store_url == os.environ["STORE_URL"]
assert "PYDANTIC_DISABLE_PLUGINS" not in os.environ  # switched off only while the models were built

class Other(BaseModel):  # a model of anyone else's, made afterwards: the plugin sees it
    x: int

Other(x=1)
"""


def test_a_pydantic_plugin_sees_neither_the_config_models_nor_their_input(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "recorder-0.1.dist-info").mkdir(parents=True)
    (site / "recorder-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: recorder\nVersion: 0.1\n")
    (site / "recorder-0.1.dist-info" / "entry_points.txt").write_text("[pydantic]\nrecorder = recorder:plugin\n")
    (site / "recorder.py").write_text(RECORDER)
    config = tmp_path / "deployment_config.yaml"
    config.write_text(CONFIG)
    recorded = tmp_path / "recorded.jsonl"
    secret = "postgresql://app:s3cret-Passw0rd@db/app"
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"},
        "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
        "RECORDED": str(recorded),
        "STORE_URL": secret,
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(config)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr

    lines = [json.loads(line) for line in recorded.read_text().splitlines()]
    assert {"model": "Other"} in lines and {"model": "Other", "input": "{'x': 1}"} in lines  # the plugin works
    assert {line["model"] for line in lines} == {"Other"}
    assert secret not in recorded.read_text()
