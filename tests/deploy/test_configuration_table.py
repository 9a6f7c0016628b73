"""The README's configuration tables and the settings code cannot drift apart: every variable
a service, the CLI or the emulator reads has a row, and every row names a variable that is
read. (The names read are found in the code itself, ``support.env_names_read``.)
"""

from __future__ import annotations

import re

from tests.deploy import support

#: A per-integration variable's row: ``NOTION_TOKEN_<NAME>`` is read as
#: ``integration_variable("NOTION_TOKEN", name)``.
_PER_INTEGRATION = "_<NAME>"


def _configuration_section() -> str:
    readme = (support.ROOT / "README.md").read_text()
    start = readme.index("\n## Configuration\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def _variables_in_tables() -> set[str]:
    """Every variable named in the first column of the section's tables (a row may name two,
    ``API_HOST`` / ``API_PORT``), per-integration ones by their base name."""
    names: set[str] = set()
    for row in re.findall(r"^\| (.+?) \|", _configuration_section(), re.MULTILINE):
        for name in re.findall(r"`([A-Z][A-Z0-9_]*(?:_<NAME>)?)`", row):
            names.add(name.removesuffix(_PER_INTEGRATION))
    return names


def test_every_variable_read_has_a_row() -> None:
    missing = sorted(support.env_names_read() - _variables_in_tables())
    assert not missing, f"README 'Configuration' has no row for {missing}"


def test_every_row_names_a_variable_that_is_read() -> None:
    unknown = sorted(_variables_in_tables() - support.env_names_read())
    assert not unknown, f"README 'Configuration' documents {unknown}, which nothing reads"


def test_the_scopes_a_key_may_have_are_documented() -> None:
    section = _configuration_section()
    for scope in ("`read`", "`write`", "`read+write`"):
        assert scope in section
