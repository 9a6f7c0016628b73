"""deploy/Dockerfile and .dockerignore, read as text (no Docker engine runs here)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tomllib
from pathlib import Path

from tests.deploy import support

#: Packages that mean a compiler or headers in an image.
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|clang|cc|make|build-essential|[\w.+-]+-dev|libc6-dev|cargo|rustc)\b"
)


def test_multi_stage_build_then_slim_runtime() -> None:
    stages = support.dockerfile_stages()
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert build.name and runtime.name
    # Both stages on the same slim Python: the virtualenv's interpreter path must exist.
    assert build.base == runtime.base
    arguments = (support.DEPLOY / "Dockerfile").read_text()
    image = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", arguments, re.MULTILINE)
    assert image, "the base image is an ARG with a default"
    assert re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", image.group(1))
    copies_from = [i.arguments for i in runtime.all("COPY") if "--from=" in i.arguments]
    assert copies_from == [f"--from={build.name} /opt/venv /opt/venv"]


def test_the_base_python_satisfies_every_package() -> None:
    text = (support.DEPLOY / "Dockerfile").read_text()
    match = re.search(r"python:3\.(\d+)", text)
    assert match
    minor = int(match.group(1))
    for package in support.PACKAGE_DIRS:
        requires = tomllib.loads((support.ROOT / package / "pyproject.toml").read_text())[
            "project"
        ]["requires-python"]
        wanted = re.fullmatch(r">=\s*3\.(\d+)", requires)
        assert wanted, requires
        assert minor >= int(wanted.group(1)), package


def test_the_runtime_has_no_build_tools_and_runs_as_a_numeric_non_root_user() -> None:
    runtime = support.dockerfile_stages()[-1]
    for instruction in runtime.all("RUN"):
        assert "apt-get install" not in instruction.arguments
        assert "pip install" not in instruction.arguments
        assert not BUILD_TOOLS.search(instruction.arguments), instruction.arguments
    users = runtime.all("USER")
    assert len(users) == 1
    uid, _, gid = users[0].arguments.partition(":")
    # Numeric: Kubernetes' runAsNonRoot cannot check a user name.
    assert uid.isdigit() and int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)
    # USER comes after every RUN: nothing runs as root once it is set.
    keywords = [i.keyword for i in runtime.instructions]
    assert "RUN" not in keywords[keywords.index("USER") :]
    # No source tree in the final image: only the virtualenv is copied in.
    assert [i for i in runtime.all("COPY") if "--from=" not in i.arguments] == []
    assert runtime.all("ADD") == []


def test_every_package_is_built_from_its_folder() -> None:
    build = support.dockerfile_stages()[0]
    runs = " ".join(i.arguments for i in build.all("RUN"))
    copies = [i.arguments for i in build.all("COPY")]
    for package in support.PACKAGE_DIRS:
        # `./` keeps pip from reading a bare folder name as a PyPI project name.
        assert f"./{package}" in runs.split(), f"{package} is not built as ./{package}"
        assert f"{package}/pyproject.toml {package}/" in copies, f"{package}'s pyproject.toml"
        top = package.split("/")[0]
        assert any(c in (f"{package} {package}", f"{top} {top}") for c in copies), package
    assert "constraints.txt ./" in copies
    env = support.dockerfile_env(build)
    assert env["PIP_CONSTRAINT"] == "/src/constraints.txt"
    assert "--only-binary=:all:" in runs
    assert "pip check" in runs


def test_dependencies_are_read_from_the_pyprojects(tmp_path: Path) -> None:
    """The heredoc that lists third-party requirements, run on a copy of the build stage's
    /src at that point (the pyproject files and nothing else)."""
    (heredoc,) = [i.heredoc for i in support.dockerfile_stages()[0].all("RUN") if i.heredoc]
    expected: set[str] = set()
    for package in support.PACKAGE_DIRS:
        source = support.ROOT / package / "pyproject.toml"
        (tmp_path / package).mkdir(parents=True)
        shutil.copy(source, tmp_path / package / "pyproject.toml")
        dependencies = tomllib.loads(source.read_text())["project"]["dependencies"]
        expected |= {d for d in dependencies if not d.startswith("notion-batch")}
    printed: list[str] = []
    with contextlib.chdir(tmp_path):
        exec(heredoc, {"print": printed.append})  # our own Dockerfile's script
    assert set(printed) == expected


def test_the_default_command_and_environment() -> None:
    runtime = support.dockerfile_stages()[-1]
    (cmd,) = runtime.all("CMD")
    command = json.loads(cmd.arguments)  # exec form: signals reach the process itself
    assert command[0] in support.console_scripts()
    env = support.dockerfile_env(runtime)
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["LOG_FORMAT"] == "json"
    ours = {name for name in env if not name.startswith("PYTHON") and name != "PATH"}
    assert ours <= support.env_names_read()
    exposed = {int(p) for i in runtime.all("EXPOSE") for p in i.arguments.split()}
    assert {8000, 9100, 9101, 8700} <= exposed


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (support.ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Deny everything first, then allow: a new top-level folder (a .env, a dump) stays out.
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for instruction in support.dockerfile_stages()[0].all("COPY"):
        if "--from=" in instruction.arguments:
            continue
        source = instruction.arguments.split()[0]
        assert any(source == a or source.startswith(a + "/") for a in allowed), source
    assert "**/__pycache__" in patterns
