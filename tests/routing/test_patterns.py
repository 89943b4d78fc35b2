"""GitHub's filter-pattern glob: * stops at /, ** does not, and the rest of the small syntax."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arxdeploy.domain.routing import first_match, matches


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("main", "main", True),
        ("main", "main2", False),
        ("main", "xmain", False),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1/2", False),
        ("release/*", "release/", True),
        ("release/**", "release/1/2", True),
        ("**", "feature/a/b", True),
        ("**/hotfix", "a/b/hotfix", True),
        ("*", "feature/x", False),
        ("*", "develop", True),
        ("v*", "v1.2.0", True),
        ("v*", "v1/2", False),
        ("v*", "1.2.0", False),
        ("v*.*.*", "v1.2.0", True),
        ("v*.*.*", "v1.2", False),
        ("v[12].*", "v2.0", True),
        ("v[12].*", "v3.0", False),
        ("v[0-9]*", "v10", True),
        ("v[0-9]*", "vx", False),
        ("[CB]at", "Bat", True),
        ("v2?.0", "v.0", True),  # ? makes the preceding character optional
        ("v2?.0", "v2.0", True),
        ("v2?.0", "v22.0", False),
        ("v2+.0", "v222.0", True),
        ("v2+.0", "v.0", False),
        ("release\\*", "release*", True),
        ("release\\*", "release1", False),
        ("a.b", "axb", False),  # regex characters match themselves
        ("(x)", "(x)", True),
        ("?x", "?x", True),  # nothing precedes ?: a literal
        ("[", "[", True),
    ],
)
def test_github_filter_pattern_semantics(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


def test_in_a_list_a_negation_drops_what_came_before_and_a_later_pattern_brings_it_back() -> None:
    patterns = ["releases/**", "!releases/**-alpha", "releases/keep-alpha"]
    assert first_match(patterns, "releases/10") == "releases/**"
    assert first_match(patterns, "releases/10-alpha") is None
    assert first_match(patterns, "releases/keep-alpha") == "releases/keep-alpha"
    assert first_match(["!main"], "main") is None


names = st.text(alphabet="ab/.-_v1", max_size=12)


@given(names)
def test_a_name_matches_itself_and_double_star_matches_everything(name: str) -> None:
    assert matches(name, name)
    assert matches("**", name)
    assert matches("*", name) is ("/" not in name)
