"""deploy/grafana and deploy/prometheus/alerts.yml against what the services export.

No Grafana dashboard linter installs here, so the dashboard's structure is checked by hand;
every PromQL expression (panels and alerts) may only name metrics that ``metrics.py``
defines, with labels those metrics have; the Loki panels must drill down by
``notion_page_id`` and name only events the code emits.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy import support
from tests.deploy.conftest import read_yaml

DASHBOARD = support.DEPLOY / "grafana/dashboards/notion-batch.json"
ALERTS = support.DEPLOY / "prometheus/alerts.yml"
_METRIC = re.compile(r"\b(notion_batch_\w+)\b(\{[^}]*\})?")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
#: Labels Prometheus adds (target labels) or histograms carry.
_TARGET_LABELS = {"job", "instance"}
#: Grafana's built-in variables.
_BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return found


def queries(dashboard: dict[str, Any], kind: str) -> list[str]:
    return [
        target["expr"]
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if target["datasource"]["type"] == kind
    ]


def check_promql(expression: str) -> set[str]:
    """Fail unless every metric and label in ``expression`` exists; return its families."""
    series = support.exported_series()
    families: set[str] = set()
    labels: set[str] = set(_TARGET_LABELS)
    for name, selector in _METRIC.findall(expression):
        assert name in series, f"{name} is not exported by metrics.py (in {expression!r})"
        family = series[name]
        families.add(family.name)
        allowed = (
            set(family.labels) | _TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
        )
        for label in _MATCHER.findall(selector):
            assert label in allowed, f"{name} has no label {label!r} (in {expression!r})"
        labels |= allowed
    assert families, f"no notion-batch metric in {expression!r}"
    for grouping in _GROUPING.findall(expression):
        for label in (part.strip() for part in grouping.split(",") if part.strip()):
            assert label in labels, f"grouping by unknown label {label!r} in {expression!r}"
    return families


def test_dashboard_structure(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "notion-batch"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    # Provisioning format: the dashboard itself, not an export wrapper or an id of a database.
    assert "dashboard" not in dashboard
    assert dashboard.get("id") is None
    all_panels = panels(dashboard)
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cell = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not cells & cell, f"panel {panel['title']!r} overlaps another"
        cells |= cell
        if panel["type"] == "row":
            continue
        assert panel["title"], panel
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        kind = panel["datasource"]["type"]
        assert (
            panel["datasource"]["uid"] == {"prometheus": "${datasource}", "loki": "${loki}"}[kind]
        )
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])


def test_template_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["loki"]["type"] == "datasource"
    assert variables["loki"]["query"] == "loki"
    assert variables["notion_page_id"]["type"] == "textbox"
    # The defaults resolve to the datasources provisioned for `make up`.
    provisioned = read_yaml(support.DEPLOY / "grafana/provisioning/datasources/datasources.yaml")
    uids = {d["type"]: d["uid"] for d in provisioned["datasources"]}
    assert variables["datasource"]["current"]["value"] == uids["prometheus"]
    assert variables["loki"]["current"]["value"] == uids["loki"]
    used = set(re.findall(r"\$\{?(\w+)", json.dumps(dashboard["panels"])))
    assert used <= set(variables) | _BUILTIN_VARIABLES, used - set(variables)


def test_every_metric_query_names_exported_metrics(dashboard: dict[str, Any]) -> None:
    expressions = queries(dashboard, "prometheus")
    assert expressions
    for expression in expressions:
        check_promql(expression)


def test_the_check_catches_unknown_metrics_and_labels() -> None:
    with pytest.raises(AssertionError, match="not exported"):
        check_promql("sum(rate(notion_batch_ticks_emited_total[5m]))")
    with pytest.raises(AssertionError, match="no label"):
        check_promql('sum(rate(notion_batch_ticks_emitted_total{outcome="x"}[5m]))')
    with pytest.raises(AssertionError, match="unknown label"):
        check_promql("sum by (page) (rate(notion_batch_todos_processed_total[5m]))")


def test_every_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    shown: set[str] = set()
    for expression in queries(dashboard, "prometheus"):
        shown |= check_promql(expression)
    assert set(support.metric_families()) - shown == set()


def test_one_page_drills_down_through_the_logs(dashboard: dict[str, Any]) -> None:
    expressions = queries(dashboard, "loki")
    assert expressions
    events = {e.event for e in support.log_events()}
    for expression in expressions:
        # JSON lines parsed at query time, filtered to the page chosen in the variable.
        assert "{$log_selector}" in expression
        assert '| json | notion_page_id="$notion_page_id"' in expression
        for group in re.findall(r'\bevent\s*=~?\s*"([^"]+)"', expression):
            for event in group.split("|"):
                assert event in events, f"the code emits no event {event!r}"
    kinds = {p["type"] for p in panels(dashboard) if p.get("datasource", {}).get("type") == "loki"}
    assert "logs" in kinds


def test_provisioning_files() -> None:
    providers = read_yaml(support.DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml")
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    datasources = read_yaml(support.DEPLOY / "grafana/provisioning/datasources/datasources.yaml")
    assert datasources["apiVersion"] == 1
    assert sorted(d["type"] for d in datasources["datasources"]) == ["loki", "prometheus"]
    assert sum(bool(d.get("isDefault")) for d in datasources["datasources"]) == 1


def alert_rules() -> list[dict[str, Any]]:
    groups = read_yaml(ALERTS)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alerts_are_well_formed_and_name_exported_metrics() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["labels"]["severity"] in ("page", "warning", "info")
        assert rule["annotations"]["summary"]
        if "notion_batch_" in rule["expr"]:
            check_promql(rule["expr"])
        else:
            assert rule["expr"].startswith('up{job=~"notion-batch-.*"}')


def test_alerts_are_documented() -> None:
    operations = (support.ROOT / "docs/operations.md").read_text()
    for rule in alert_rules():
        assert f"`{rule['alert']}`" in operations, f"{rule['alert']} is not in docs/operations.md"
