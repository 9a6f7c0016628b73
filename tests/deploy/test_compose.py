"""deploy/docker-compose.yml and what it mounts: services, commands, environment, scraping.

No Docker engine runs here, so the file is read with PyYAML (merge keys included) and its
``${VAR:-default}`` interpolation done the way compose does it with nothing set.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from notion_batch.worker.settings import DEFAULT_WORKER_DRAIN_SECONDS as DRAIN_SECONDS
from tests.deploy import support
from tests.deploy.conftest import read_yaml

COMPOSE_DIR = support.DEPLOY
APP_SERVICES = ("migrate", "api", "scheduler", "worker", "emulator")
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: Any, environ: dict[str, str] | None = None) -> str:
    """``${NAME:-default}`` as compose resolves it; a variable without default must be set."""
    environ = environ or {}

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        assert default is not None, f"${{{name}}} has no default: `make up` would leave it empty"
        return default

    return _VARIABLE.sub(replace, str(value))


def app_env(service: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(support.dockerfile_env(support.dockerfile_stages()[-1]))
    env.update({k: interpolate(v, environ) for k, v in service.get("environment", {}).items()})
    return env


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return float(match.group(1))


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "postgres", "rabbitmq", "migrate", "api", "scheduler", "worker", "emulator",
        "prometheus", "loki", "alloy", "grafana",
    }  # fmt: skip
    # Supported releases: RabbitMQ 4 (3.x is out of community support), Alloy (not promtail).
    assert compose["services"]["rabbitmq"]["image"].startswith("rabbitmq:4.")
    assert compose["services"]["rabbitmq"]["image"].endswith("-management")
    profiles = {name: s.get("profiles") for name, s in compose["services"].items()}
    assert profiles.pop("emulator") == ["emulator"]
    assert set(profiles.values()) == {None}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_our_image_by_command(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["image"] == "notion-batch:local"
    build = service["build"]
    assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == (
        support.DEPLOY / "Dockerfile"
    )
    assert (COMPOSE_DIR / build["context"]).resolve() == support.ROOT
    assert service["command"][0] in support.console_scripts()
    # As in Kubernetes: read-only root, a tmpfs /tmp, no capabilities.
    assert service["read_only"] is True
    assert service["tmpfs"] == ["/tmp"]
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_set_is_read_and_makes_valid_settings(
    compose: dict[str, Any], name: str, env_names: frozenset[str]
) -> None:
    service = compose["services"][name]
    unknown = set(service.get("environment", {})) - env_names
    assert not unknown, f"{name} sets variables no code reads: {unknown}"
    for environ in ({}, {"NOTION_TOKEN": "secret_real0123456789"}):
        loaded = support.load_settings_for(service["command"], app_env(service, environ))
        if loaded.service == "api":
            assert not loaded.settings.auth.missing_keys, "the API refuses to start without keys"


def test_only_the_worker_and_emulator_know_the_notion_token(compose: dict[str, Any]) -> None:
    holders = {
        name
        for name in APP_SERVICES
        if {"NOTION_TOKEN", "NOTION_EMULATOR_TOKENS"}
        & set(compose["services"][name].get("environment", {}))
    }
    assert holders == {"worker", "emulator"}


def test_the_workers_use_the_emulator_unless_given_real_notion(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker, emulator = services["worker"], services["emulator"]
    demo = support.load_settings_for(worker["command"], app_env(worker)).settings
    emulated = support.load_settings_for(emulator["command"], app_env(emulator)).settings
    target = urlsplit(demo.notion.base_url)
    assert target.hostname == "emulator"
    assert target.port == emulated.port
    assert demo.notion.token in emulated.config.tokens
    # `make up` with NOTION_TOKEN set passes NOTION_BASE_URL (Makefile), and both reach here.
    real = support.load_settings_for(
        worker["command"],
        app_env(worker, {"NOTION_TOKEN": "secret_x", "NOTION_BASE_URL": "https://api.notion.com"}),
    ).settings
    assert real.notion.base_url == "https://api.notion.com"
    assert real.notion.token == "secret_x"
    assert worker["depends_on"]["emulator"] == {"condition": "service_healthy", "required": False}


def test_urls_point_at_the_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    postgres = services["postgres"]["environment"]
    rabbitmq = services["rabbitmq"]["environment"]
    for name in ("migrate", "api", "scheduler", "worker"):
        env = app_env(services[name])
        database = urlsplit(env["DATABASE_URL"])
        assert database.hostname == "postgres"
        assert database.username == postgres["POSTGRES_USER"]
        assert database.password == postgres["POSTGRES_PASSWORD"]
        assert database.path == "/" + postgres["POSTGRES_DB"]
        if name != "migrate":
            broker = urlsplit(env["AMQP_URL"])
            assert broker.hostname == "rabbitmq"
            assert (broker.username, broker.password) == (
                rabbitmq["RABBITMQ_DEFAULT_USER"],
                rabbitmq["RABBITMQ_DEFAULT_PASS"],
            )


def test_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "scheduler", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["rabbitmq"] == {"condition": "service_healthy"}
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        if isinstance(depends_on, list):  # the short form: started, not healthy
            assert set(depends_on) <= set(services), name
            continue
        for dependency, condition in depends_on.items():
            assert dependency in services, (name, dependency)
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)


def test_workers_scale_and_drain(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    # A published port would make a second replica fail to start.
    assert "ports" not in worker
    assert "container_name" not in worker
    assert int(interpolate(worker["deploy"]["replicas"])) >= 2
    assert int(interpolate(worker["deploy"]["replicas"], {"WORKERS": "5"})) == 5
    assert seconds(worker["stop_grace_period"]) >= DRAIN_SECONDS + 10


@pytest.mark.parametrize("name", ["api", "scheduler", "worker", "emulator"])
def test_healthchecks_probe_the_service_port(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    loaded = support.load_settings_for(service["command"], app_env(service))
    check = " ".join(service["healthcheck"]["test"])
    path = "/_emulator/health" if name == "emulator" else "/readyz"
    assert f"http://127.0.0.1:{loaded.port}{path}" in check


def test_prometheus_scrapes_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    (mount,) = (v for v in prometheus["volumes"] if v.startswith("./prometheus:"))
    host_dir, container_dir = mount.split(":")[:2]
    config_file = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = config_file.removeprefix("--config.file=")
    assert config_path.startswith(container_dir + "/")
    config = read_yaml(COMPOSE_DIR / host_dir / config_path.removeprefix(container_dir + "/"))
    for rule_file in config["rule_files"]:
        assert (COMPOSE_DIR / host_dir / Path(rule_file).relative_to(container_dir)).is_file()
    targets = {}
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        (sd,) = job["dns_sd_configs"]
        (host,) = sd["names"]
        targets[host] = (job["job_name"], sd["port"])
    for name in ("api", "scheduler", "worker"):
        loaded = support.load_settings_for(services[name]["command"], app_env(services[name]))
        job_name, port = targets[name]
        assert port == loaded.port
        # The alerts and docs select jobs by this prefix.
        assert job_name == f"notion-batch-{name}"


def test_grafana_is_provisioned(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"] if v.startswith("./"))
    provisioning = COMPOSE_DIR / next(
        h for h, c in mounts.items() if c == "/etc/grafana/provisioning"
    )
    dashboards_dir = next(c for c in mounts.values() if c == "/var/lib/grafana/dashboards")
    (provider,) = read_yaml(provisioning / "dashboards/dashboards.yaml")["providers"]
    assert provider["options"]["path"] == dashboards_dir
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    host_dashboards = COMPOSE_DIR / next(h for h, c in mounts.items() if c == dashboards_dir)
    assert (host_dashboards / Path(home).name).is_file()
    datasources = read_yaml(provisioning / "datasources/datasources.yaml")["datasources"]
    by_type = {d["type"]: d for d in datasources}
    assert urlsplit(by_type["prometheus"]["url"]).hostname == "prometheus"
    assert urlsplit(by_type["loki"]["url"]).hostname == "loki"
    assert "prometheus" in services and "loki" in services


def test_alloy_ships_this_project_only(compose: dict[str, Any]) -> None:
    (mount,) = (v for v in compose["services"]["alloy"]["volumes"] if v.startswith("./"))
    host_path, container_path = mount.split(":")[:2]
    assert container_path in compose["services"]["alloy"]["command"]
    config = (COMPOSE_DIR / host_path).read_text()
    # Alloy's syntax has no Python parser: the few facts that matter, read off the text.
    (filter_values,) = re.findall(
        r'values\s*=\s*\["(com\.docker\.compose\.project=[^"]*)"\]', config
    )
    assert filter_values == f"com.docker.compose.project={compose['name']}"
    assert re.search(r'labels\s*=\s*\{app = "notion-batch"\}', config)
    assert "discovery.docker.compose.targets" in config
    assert re.search(r'url\s*=\s*"http://loki:3100/loki/api/v1/push"', config)
    # Only bounded fields become Loki labels: never the page id.
    (labels,) = re.findall(r"stage\.labels\s*\{\s*values\s*=\s*\{([^}]*)\}", config)
    assert {name.split("=")[0].strip() for name in labels.split(",")} == {"service", "level"}


def test_make_up_and_down_use_this_file() -> None:
    makefile = (support.ROOT / "Makefile").read_text()
    for target in ("up", "down"):
        match = re.search(rf"^{target}:\n((?:\t.*\n)+)", makefile, re.MULTILINE)
        assert match, f"no `make {target}`"
        assert "docker compose -f deploy/docker-compose.yml" in match.group(1)
    assert "COMPOSE_PROFILES=emulator" in makefile


def test_yaml_has_no_duplicate_keys() -> None:
    """PyYAML keeps the last of two equal keys silently; compose refuses the file."""

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: Strict, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
        duplicates = {k for k in keys if keys.count(k) > 1 and k != "<<"}
        assert not duplicates, f"duplicate keys {duplicates} at line {node.start_mark.line + 1}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    for path in sorted(support.DEPLOY.rglob("*.y*ml")):
        list(yaml.load_all(path.read_text(), Loader=Strict))  # a SafeLoader subclass
