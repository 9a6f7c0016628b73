"""metrics.py: names, bounded labels, helpers; and docs/operations.md's metrics table."""

from __future__ import annotations

import ast
import re

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from notion_batch.common import metrics as m
from tests.deploy import support
from tests.deploy.test_event_catalogue import section, table_rows, ticked

#: Label names whose values come from closed sets (see metrics.py); nothing else may be a label.
# "integration" is bounded by configuration (NOTION_INTEGRATIONS), not by traffic.
BOUNDED_LABELS = {
    "outcome",
    "reason",
    "queue",
    "operation",
    "status",
    "route",
    "method",
    "integration",
    "channel",
    # Notion's documented error codes, others folded into "other" (notion_error_code_label).
    "code",
}


def documented_name(family: support.Family) -> str:
    return family.series[0] if family.kind == "counter" else family.name


def test_names_documentation_and_labels() -> None:
    families = support.metric_families()
    assert len(families) >= 15
    for family in families.values():
        assert re.fullmatch(r"notion_batch_[a-z0-9_]+", family.name), family.name
        assert len(family.documentation) > 20, family.name
        assert set(family.labels) <= BOUNDED_LABELS, family.name
        if family.kind == "histogram":
            assert family.name.endswith("_seconds"), "histograms here measure time, in seconds"


def test_the_metrics_table_matches_the_module() -> None:
    rows = table_rows(section("Metrics"))
    families = {documented_name(f): f for f in support.metric_families().values()}
    documented = {}
    for name_cell, kind, labels, _fed_by, _meaning in rows:
        (name,) = ticked(name_cell)
        documented[name] = (kind, labels)
    assert set(documented) == set(families), set(documented) ^ set(families)
    for name, (kind, labels) in documented.items():
        family = families[name]
        assert kind == family.kind, name
        listed = [t for t in ticked(labels) if t in BOUNDED_LABELS]
        assert listed == list(family.labels), name


def test_closed_label_sets_exist_at_zero() -> None:
    registry = CollectorRegistry()
    m.Metrics(registry)
    text = generate_latest(registry).decode()
    for outcome in m.TICK_OUTCOMES:
        assert f'notion_batch_ticks_processed_total{{outcome="{outcome}"}} 0.0' in text
    for reason in m.BATCH_END_REASONS:
        assert f'notion_batch_batches_ended_total{{reason="{reason}"}} 0.0' in text
    for operation in m.NOTION_OPERATIONS:
        assert (
            "notion_batch_notion_rate_limited_total"
            f'{{integration="default",operation="{operation}"}} 0.0'
        ) in text
    # A gauge of measured values has no series until measured: 0 would be a lie.
    assert "notion_batch_queue_depth{" not in text


def test_label_sets_follow_the_code() -> None:
    """The closed sets are the values the code produces."""
    tick = (support.ROOT / "services/worker/notion_batch/worker/tick.py").read_text()
    comment = re.search(r"outcome: str\s*#\s*(.+)", tick)
    assert comment, "TickReport.outcome documents its values"
    assert set(comment.group(1).replace(" ", "").split("|")) == set(m.TICK_OUTCOMES)
    gateway = support.ROOT / "libs/common/notion_batch/common/notion/gateway.py"
    operations = {
        node.args[0].value
        for node in ast.walk(ast.parse(gateway.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "_call"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert operations == set(m.NOTION_OPERATIONS)


def test_a_registry_takes_the_metrics_once() -> None:
    registry = CollectorRegistry()
    m.Metrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        m.Metrics(registry)
    # Unregistered metrics, for code that wants them without exposing them.
    m.Metrics(None).ticks_emitted.inc()


def test_get_metrics_is_one_object_on_the_default_registry() -> None:
    first = m.get_metrics()
    assert m.get_metrics() is first
    first.ticks_emitted.inc()
    assert REGISTRY.get_sample_value("notion_batch_ticks_emitted_total") is not None


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (200, "200"),
        (429, "429"),
        (529, "529"),
        (418, "4xx"),
        (507, "5xx"),
        (302, "3xx"),
        (None, "no_response"),
        (999, "other"),
    ],
)
def test_notion_status_label(status: int | None, label: str) -> None:
    assert m.notion_status_label(status) == label


def test_http_labels_are_bounded() -> None:
    assert m.http_method_label("get") == "GET"
    assert m.http_method_label("PROPFIND") == "other"
    assert m.http_status_label(503) == "503"
    assert m.http_status_label(1000) == "other"


class FakePool:
    def __init__(self) -> None:
        self.size, self.idle = 3, 1

    def get_size(self) -> int:
        return self.size

    def get_idle_size(self) -> int:
        return self.idle

    def get_max_size(self) -> int:
        return 10


def test_watch_pool_reads_the_pool_at_each_scrape() -> None:
    registry = CollectorRegistry()
    metrics = m.Metrics(registry)
    pool = FakePool()
    metrics.watch_pool(pool)
    assert registry.get_sample_value("notion_batch_db_pool_connections_in_use") == 2
    assert registry.get_sample_value("notion_batch_db_pool_connections_max") == 10
    pool.idle = 0
    assert registry.get_sample_value("notion_batch_db_pool_connections_in_use") == 3
