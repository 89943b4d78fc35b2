"""Read a $GITHUB_OUTPUT file back the way the runner does: name=value lines and name<<DELIMITER blocks."""

from __future__ import annotations

from pathlib import Path


def parse_outputs(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "", "the file ends with a line break"
    values: dict[str, str] = {}
    i = 0
    while i < len(lines) - 1:
        line = lines[i]
        equals, heredoc = line.find("="), line.find("<<")
        if equals != -1 and (heredoc == -1 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
            i += 1
        else:
            assert heredoc > 0, f"not an output line: {line!r}"
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            end = lines.index(delimiter, i + 1)
            value = "\n".join(lines[i + 1 : end])
            i = end + 1
        assert name not in values, f"{name} written twice"
        values[name] = value
    return values
