"""scripts/check_import_cycles.py (run by `make lint`): it finds a circle planted in a tree of
its own, whatever the kind of import that closes it, and finds none in ours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_import_cycles.py"


def check(*roots: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, roots)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_circle_closed_inside_a_function_is_found_and_named(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def later():\n    from pkg.a import thing\n    return thing\n",
            "pkg/c.py": "import os\n",
        },
    )
    proc = check(root)
    assert proc.returncode == 1
    assert "import circle: pkg.a (line 1) -> pkg.b (line 2) -> pkg.a" in proc.stderr
    assert "pkg.c" not in proc.stderr


def test_relative_imports_close_a_circle_too(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from . import one\n",
            "pkg/sub/one.py": "from ..sub import two\n",
            "pkg/sub/two.py": "import pkg.sub\n",
        },
    )
    proc = check(root)
    assert proc.returncode == 1
    assert "pkg.sub (line 1) -> pkg.sub.one (line 1) -> pkg.sub.two (line 1) -> pkg.sub" in (
        proc.stderr
    )


def test_imports_for_type_checking_only_and_a_package_importing_its_own_modules_pass(
    tmp_path: Path,
) -> None:
    root = plant(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.c import C\n",
            "pkg/c.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.d import D\n"
                "class C: ...\n"
            ),
            "pkg/d.py": "from pkg.c import C\nclass D(C): ...\n",
        },
    )
    proc = check(root)
    assert proc.returncode == 0, proc.stderr


def test_our_tree_has_no_circle() -> None:
    proc = check()
    assert proc.returncode == 0, proc.stderr
