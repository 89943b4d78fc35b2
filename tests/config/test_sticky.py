"""environments.<env>.sticky: the header or cookie that keeps a client on one color during a split."""

from __future__ import annotations

import pytest

from arxdeploy.bootstrap import build
from arxdeploy.targets.local.client import LocalEnvironmentSpec

from .conftest import Write, error_for, seed_with

STAGING = "    replicas: 2\n    approval_required: false\n"


def sticky(value: str) -> str:
    return seed_with((STAGING, f"{STAGING}    sticky: {value}\n"))


@pytest.mark.parametrize(
    ("value", "header", "cookie"),
    [("{header: X-User-Id}", "X-User-Id", None), ("{cookie: session}", None, "session")],
)
def test_a_header_or_a_cookie_reaches_the_local_target(
    write: Write, value: str, header: str | None, cookie: str | None
) -> None:
    app = build(write(sticky(value)), {})
    assert app.local is not None
    staging: LocalEnvironmentSpec = app.local.environments["staging"]
    assert (staging.sticky_header, staging.sticky_cookie) == (header, cookie)
    assert staging.sticky() == ({"header": header} if header else {"cookie": cookie})
    assert app.local.environments["production"].sticky() is None


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        ("{header: X-User, cookie: session}", "environments.staging.sticky", "needs exactly one of header and cookie"),
        ("{}", "environments.staging.sticky", "needs exactly one of header and cookie"),
        ('{header: "X User"}', "environments.staging.sticky.header", '"X User" is not a header or cookie name'),
        ("{cookie: 'a;b'}", "environments.staging.sticky.cookie", '"a;b" is not a header or cookie name'),
    ],
)
def test_a_sticky_setting_that_cannot_work_is_an_error_at_its_line(
    write: Write, value: str, key: str, message: str
) -> None:
    (problem,) = error_for(write, sticky(value)).problems
    assert problem.key == key
    assert problem.line == 12  # the sticky line, just after approval_required
    assert message in problem.message
