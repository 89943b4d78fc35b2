"""Recorded logs from earlier versions keep loading and folding to the same view."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from arxdeploy.domain.events import Event, Failure, View, fold
from arxdeploy.domain.states import Color, State
from arxdeploy.ports import LiveRelease
from arxdeploy.store.sql import SqlStore
from tests.store.helpers import deployment

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "events_v1.json").read_text())


def _t(clock: str) -> datetime:
    return datetime.fromisoformat(f"2025-02-10T{clock}+00:00").astimezone(UTC)


def _check_view(view: View) -> None:
    assert view.state is State.ROLLED_BACK
    assert view.finished_at == _t("09:01:04")
    assert [(s.step, s.outcome, s.seconds) for s in view.steps] == [
        ("validate", "ok", 2),
        ("backup", "ok", 3),
        ("monitor", "failed", 54),
        ("rollback", "ok", 4),
    ]
    assert view.failure == Failure(
        step="monitor",
        reason="error rate 12% over 5%",
        check="GET /health on green replica 1",
        answer="500 Internal Server Error",
    )
    assert (view.traffic_on, view.traffic_moved) == (Color.BLUE, True)
    assert view.warnings == ["error rate above 5%"]


def test_recorded_events_fold_to_the_expected_view() -> None:
    _check_view(fold(Event.from_json(raw) for raw in RECORDED["events"]))


def test_recorded_rows_load_from_the_sql_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    deployment_id = RECORDED["deployment_id"]
    with SqlStore(url) as store:
        store.create(deployment=deployment(deployment_id), events=[])
    engine = create_engine(url)
    with engine.begin() as conn:  # the payload text exactly as the old writer stored it
        rows: list[dict[str, Any]] = [
            {
                "id": deployment_id,
                "seq": seq,
                "type": raw["type"],
                "at": datetime.fromisoformat(raw["at"]).isoformat(timespec="microseconds"),
                "payload": json.dumps(raw),
            }
            for seq, raw in enumerate(RECORDED["events"], start=1)
        ]
        conn.execute(text("INSERT INTO events VALUES (:id, :seq, :type, :at, :payload)"), rows)
    engine.dispose()

    with SqlStore(url) as store:
        loaded = store.events(deployment_id=deployment_id)
        live = store.live(service="shop", environment="production")

    assert loaded[-1].data == {"state": "rolled_back", "took_seconds": 4}  # unknown fields kept
    _check_view(fold(loaded))
    assert live == LiveRelease(color=Color.BLUE, version="v1", deployment_id=deployment_id, at=_t("09:01:01"))
