"""What the deployment files are checked against, read from the code itself.

- :func:`env_names_read`: every environment variable the code reads (parsed with ``ast``);
- :func:`load_settings_for`: build a process's settings from an environment exactly as its
  entry point does, so a manifest whose variables do not make valid settings fails here;
- :func:`metric_families` / :func:`exported_series`: the metrics ``metrics.py`` defines;
- :func:`console_scripts`: the commands the packages install;
- :func:`log_events`: every structlog event the code emits, with its module and fields.
"""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from notion_batch.api.settings import ApiSettings
from notion_batch.common.config import DatabaseSettings, Env, LogSettings, OpsSettings
from notion_batch.common.metrics import Metrics
from notion_batch.emulator.main import load_settings as load_emulator_settings
from notion_batch.scheduler.settings import SCHEDULER_OPS_PORT, SchedulerSettings
from notion_batch.worker.settings import WORKER_OPS_PORT, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _makefile_packages() -> tuple[str, ...]:
    match = re.search(r"^PACKAGES\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile names no PACKAGES"
    return tuple(match.group(1).split())


#: Where the product's code lives (tests excluded): the Makefile's PACKAGES, the one list.
PACKAGE_DIRS = _makefile_packages()
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ENV_METHODS = frozenset({"string", "optional", "integer", "number", "choice", "url", "http_url"})
_LOG_LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})


def source_files() -> Iterator[Path]:
    for package in PACKAGE_DIRS:
        yield from sorted((ROOT / package / "notion_batch").rglob("*.py"))


def _const(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _reads_env(func: ast.Attribute) -> bool:
    receiver = ast.unparse(func.value)
    return (
        (func.attr in _ENV_METHODS and receiver == "env")
        or (func.attr == "get" and (receiver == "env" or receiver.endswith("environ")))
        or (func.attr == "getenv" and receiver == "os")
    )


def env_names_read() -> frozenset[str]:
    """Names passed to ``env.string(…)``/``env.integer(…)``…, ``environ.get(…)``,
    ``os.environ[…]``, ``os.getenv(…)``, the emulator's ``_get(environ, …)`` and the base
    names of per-integration variables (``integration_variable("NOTION_TOKEN", …)``)."""
    names: set[str] = set()
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            candidate: str | None = None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                if isinstance(func, ast.Attribute) and _reads_env(func):
                    candidate = _const(node.args[0])
                elif isinstance(func, ast.Name) and func.id == "_get" and len(node.args) > 1:
                    candidate = _const(node.args[1])
                elif isinstance(func, ast.Name) and func.id in ("own", "integration_variable"):
                    # A per-integration variable: NOTION_TOKEN, NOTION_TOKEN_TEAM_A, …
                    candidate = _const(node.args[0])
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
                candidate = _const(node.slice)
            if candidate and _ENV_NAME.match(candidate):
                names.add(candidate)
    return frozenset(names)


def console_scripts() -> dict[str, str]:
    """Console script → ``module:function``, from every package's pyproject.toml."""
    scripts: dict[str, str] = {}
    for package in PACKAGE_DIRS:
        project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
        scripts.update(project.get("scripts", {}))
    return scripts


@dataclass(frozen=True)
class Loaded:
    """A process's settings as its entry point would build them."""

    service: str
    settings: Any
    #: The port its probes and /metrics answer on.
    port: int | None


def load_settings_for(command: list[str], environ: Mapping[str, str]) -> Loaded:
    """Build the settings of the process ``command`` starts, from ``environ``.

    Raises ``ConfigError`` (or the emulator's ``SettingError``) naming a bad variable.
    """
    script, args = command[0], command[1:]
    env = dict(environ)
    if script == "notion-batch-api":
        api = ApiSettings.from_env(env)
        return Loaded("api", api, api.port)
    if script == "notion-batch-scheduler":
        ops = OpsSettings.from_env(env, default_port=SCHEDULER_OPS_PORT)
        return Loaded("scheduler", SchedulerSettings.from_env(env), ops.port)
    if script == "notion-batch-worker":
        ops = OpsSettings.from_env(env, default_port=WORKER_OPS_PORT)
        return Loaded("worker", WorkerSettings.from_env(env), ops.port)
    if script == "notion-batch" and args == ["migrate"]:
        reader = Env(env)
        return Loaded(
            "migrate", (DatabaseSettings.from_env(reader), LogSettings.from_env(reader)), None
        )
    if script == "notion-batch-emulator":
        emulator = load_emulator_settings(env, demo_flag="--demo" in args)
        return Loaded("emulator", emulator, emulator.port)
    raise AssertionError(f"{command} is not a notion-batch command")


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    labels: tuple[str, ...]
    documentation: str

    @property
    def series(self) -> tuple[str, ...]:
        """The names this family's samples carry in the exposition format."""
        if self.kind == "counter":
            return (f"{self.name}_total", f"{self.name}_created")
        if self.kind == "histogram":
            return tuple(f"{self.name}_{s}" for s in ("bucket", "count", "sum", "created"))
        return (self.name,)


def metric_families() -> dict[str, Family]:
    """Every family ``Metrics`` defines, by name, read from a registry of its own."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    families: dict[str, Family] = {}
    for attribute in vars(metrics).values():
        describe = getattr(attribute, "describe", None)
        if describe is None:
            continue
        for described in describe():
            labels = tuple(getattr(attribute, "_labelnames", ()))
            families[described.name] = Family(
                described.name, described.type, labels, described.documentation
            )
    # Everything on the registry is accounted for by the attributes above.
    assert {m.name for m in registry.collect()} == set(families)
    return families


def exported_series() -> dict[str, Family]:
    """Exposition name (``…_total``, ``…_bucket``…) → its family."""
    return {series: family for family in metric_families().values() for series in family.series}


@dataclass(frozen=True)
class Emission:
    event: str
    level: str
    module: str
    fields: frozenset[str]
    line: int


def log_events() -> list[Emission]:
    """Every ``log.<level>(…)`` call in the product's code (the emulator's stdlib logging
    aside: it logs sentences, not events)."""
    emissions: list[Emission] = []
    for path in source_files():
        if path.is_relative_to(ROOT / "emulator"):
            continue
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _LOG_LEVELS
                and "log" in ast.unparse(node.func.value).lower()
            ):
                continue
            event = _const(node.args[0]) if node.args else None
            emissions.append(
                Emission(
                    event=event or f"<not a literal: {ast.unparse(node)[:60]}>",
                    level=node.func.attr,
                    module=relative,
                    fields=frozenset(k.arg for k in node.keywords if k.arg is not None),
                    line=node.lineno,
                )
            )
    return emissions


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    #: The body of a heredoc (``RUN python - <<'PY'`` … ``PY``), if any.
    heredoc: str = ""


@dataclass(frozen=True)
class Stage:
    base: str
    name: str
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile_stages(path: Path | None = None) -> list[Stage]:
    """deploy/Dockerfile as stages of instructions (continuations joined, heredocs kept)."""
    lines = (path or DEPLOY / "Dockerfile").read_text().splitlines()
    stages: list[Stage] = []
    current: list[Instruction] = []
    base = name = ""
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        while line.endswith("\\") and index < len(lines):
            line = line[:-1].rstrip() + " " + lines[index].strip()
            index += 1
        keyword, _, arguments = line.partition(" ")
        heredoc = ""
        if marker := re.search(r"<<-?'?\"?(\w+)'?\"?", arguments):
            body: list[str] = []
            while index < len(lines) and lines[index].strip() != marker.group(1):
                body.append(lines[index])
                index += 1
            index += 1
            heredoc = "\n".join(body)
        keyword = keyword.upper()
        if keyword == "FROM":
            if base:
                stages.append(Stage(base, name, tuple(current)))
            parts = arguments.split()
            base = parts[0]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            current = []
        elif keyword != "ARG" or base:
            current.append(Instruction(keyword, arguments, heredoc))
    if base:
        stages.append(Stage(base, name, tuple(current)))
    return stages


def dockerfile_env(stage: Stage) -> dict[str, str]:
    """The ``ENV`` values a stage sets (``KEY=value`` pairs)."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for pair in shlex.split(instruction.arguments):
            name, _, value = pair.partition("=")
            env[name] = value
    return env
