"""The console script: environment settings and serving as a separate process."""

from __future__ import annotations

import asyncio
import signal
import sys

import httpx
import pytest

from notion_batch.emulator.main import SettingError, load_settings, main


def test_defaults() -> None:
    settings = load_settings({})

    assert (settings.host, settings.port) == ("127.0.0.1", 8700)
    assert settings.config.tokens == frozenset({"secret_emulator_token"})
    assert settings.config.rate_limit == 3.0
    assert settings.config.demo is False


def test_values() -> None:
    settings = load_settings(
        {
            "NOTION_EMULATOR_HOST": "0.0.0.0",
            "NOTION_EMULATOR_PORT": "0",
            "NOTION_EMULATOR_TOKENS": "secret_a, secret_b,",
            "NOTION_EMULATOR_RATE_LIMIT": "off",
            "NOTION_EMULATOR_DEMO": "1",
            "NOTION_EMULATOR_REQUEST_LOG": "500",
        }
    )

    assert settings.host == "0.0.0.0"
    assert settings.port == 0
    assert settings.config.tokens == frozenset({"secret_a", "secret_b"})
    assert settings.config.rate_limit is None
    assert settings.config.demo is True
    assert settings.config.request_log_limit == 500
    assert load_settings({}, demo_flag=True).config.demo is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTION_EMULATOR_PORT", "http"),
        ("NOTION_EMULATOR_PORT", "70000"),
        ("NOTION_EMULATOR_TOKENS", " , "),
        ("NOTION_EMULATOR_RATE_LIMIT", "fast"),
        ("NOTION_EMULATOR_RATE_LIMIT", "-2"),
        ("NOTION_EMULATOR_RATE_BURST", "0"),
        ("NOTION_EMULATOR_DEMO", "maybe"),
        ("NOTION_EMULATOR_REQUEST_LOG", "0"),
        ("NOTION_EMULATOR_REQUEST_LOG", "all"),
        ("NOTION_EMULATOR_API_STAMPS", "maybe"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingError, match=variable):
        load_settings({variable: value})


def test_main_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOTION_EMULATOR_PORT", "nope")

    with pytest.raises(SystemExit) as exited:
        main([])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "NOTION_EMULATOR_PORT" in err


async def test_serves_as_a_process_and_stops_on_sigterm() -> None:
    env = {"NOTION_EMULATOR_PORT": "0", "NOTION_EMULATOR_RATE_LIMIT": "off", "PATH": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "notion_batch.emulator.main", "--demo",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        assert line.startswith("Notion emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        async with httpx.AsyncClient(base_url=url) as http:
            page = await http.get(
                "/v1/pages/0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
                headers={
                    "Authorization": "Bearer secret_emulator_token",
                    "Notion-Version": "2025-09-03",
                },
            )
        assert page.json()["properties"]["title"]["title"][0]["plain_text"] == "notion-batch demo"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert b"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f" in stderr
