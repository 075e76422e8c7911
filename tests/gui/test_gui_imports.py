"""The window is a thin front end: no ic.gui module imports HTTP, SQL or XML libraries itself (checked by AST)."""
from __future__ import annotations

import ast
from pathlib import Path

import ic.gui

FORBIDDEN = ("requests", "sqlalchemy", "lxml", "xml", "urllib3", "pyodbc", "psycopg", "sqlite3", "smtplib")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_gui_modules_never_import_http_sql_or_xml_libraries():
    root = Path(ic.gui.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    bad = [f"{p.relative_to(root)}:{line} imports {name}"
           for p in files for line, name in _imports(p) if name.split(".")[0] in FORBIDDEN]
    assert bad == []


def test_the_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom sqlalchemy import select\ndef f():\n    import lxml.etree\n")
    assert [name for _, name in _imports(sample)] == ["os", "sqlalchemy", "lxml.etree"]
