"""The tests' own layout (issue 12): test files sit in sub-folders that mirror the ic package tree, each a package;
a test module imports shared helpers from tests.helpers only, never from another test module, and gets its fixtures
from conftest.py, never by importing them. Read from the source with ast (nothing is imported)."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
IC = TESTS.parent / "ic"
NOT_CODE = {"data", "example_plugin", "__pycache__"}  # fixtures and the example plugin are data, not tests
EXTRA_FOLDERS = {"core": "ic's top-level modules (logs, notify, secrets) and the package shape",
                 "packaging": "the frozen executable (build.spec)",
                 "soak": "seeded soak runs across the whole program"}
# the probes are scripts that a GUI test runs in a subprocess, not test modules
ALLOWED = {"tests.helpers", "tests.gui.gui_fit_probe", "tests.gui.gui_walk_probe"}


def _code_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if not NOT_CODE & set(p.relative_to(TESTS).parts[:-1]))


def _module(path: Path, tests: Path = TESTS) -> str:
    return ".".join(("tests", *path.relative_to(tests).with_suffix("").parts))


def _tests_imports(path: Path, tests: Path = TESTS) -> list[tuple[int, str]]:
    """(line, module) for every import of a tests.* module, relative imports resolved; ``from tests.x import y``
    counts as importing tests.x.y when tests/x is a folder (y is then a module)."""
    found = []
    package = _module(path, tests).split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "tests"]
        elif isinstance(node, ast.ImportFrom):
            parts = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(parts + ([node.module] if node.module else []))
            if mod.split(".")[0] != "tests":
                continue
            if (tests.parent / mod.replace(".", "/")).is_dir():
                found += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, mod))
    return sorted(found)


def test_no_test_file_sits_in_the_flat_tests_folder():
    flat = sorted(p.name for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name)
    assert flat == [], f"move these into the sub-folder of the ic package they test: {flat}"


def test_test_folders_mirror_the_package_tree_and_are_packages():
    packages = {p.parent.name for p in IC.glob("*/__init__.py")}
    folders = {p.parent for p in TESTS.rglob("test_*.py") if p.parent != TESTS}
    assert folders, "no test sub-folders found"
    for folder in sorted(folders):
        top = folder.relative_to(TESTS).parts[0]
        assert top in packages or top in EXTRA_FOLDERS, \
            f"tests/{top}/ is neither an ic package ({sorted(packages)}) nor one of {sorted(EXTRA_FOLDERS)}"
        for level in [folder, *folder.relative_to(TESTS).parents]:
            pkg = folder if level == folder else TESTS / level
            assert (pkg / "__init__.py").is_file(), f"{pkg.relative_to(TESTS.parent)} needs an __init__.py"


def test_test_file_names_are_unique_across_folders():
    seen: dict[str, list[str]] = {}
    for p in TESTS.rglob("test_*.py"):
        seen.setdefault(p.name, []).append(str(p.relative_to(TESTS.parent)))
    assert {n: ps for n, ps in seen.items() if len(ps) > 1} == {}


def test_test_modules_import_helpers_only_from_tests_helpers_and_no_fixture_by_name():
    bad = []
    for path in _code_files():
        for line, mod in _tests_imports(path):
            if mod not in ALLOWED:
                bad.append(f"{path.relative_to(TESTS.parent)}:{line} imports {mod}")
    assert bad == [], ("shared helpers belong in tests/helpers.py and fixtures in a conftest.py (pytest finds them "
                       "by name): " + "; ".join(bad))


def test_the_layout_check_sees_what_it_forbids(tmp_path):
    """The import check itself: a helper taken from another test module, a fixture imported by name, a relative
    import of a test module and ``from tests import test_x`` are all seen; tests.helpers is allowed."""
    fake = tmp_path / "tests" / "transfer"
    fake.mkdir(parents=True)
    sample = fake / "test_sample.py"
    sample.write_text("from tests.helpers import add_site\n"
                      "from tests.transfer.test_transfer_engine import rows\n"
                      "from tests.sim_fixtures import simulator\n"
                      "from .test_transfer_crash import cli\n"
                      "from tests import conftest\n"
                      "def f():\n    import tests.cli.test_site_cli\n")
    mods = [m for _, m in _tests_imports(sample, tmp_path / "tests")]
    assert mods == ["tests.helpers", "tests.transfer.test_transfer_engine", "tests.sim_fixtures",
                    "tests.transfer.test_transfer_crash", "tests.conftest", "tests.cli.test_site_cli"]
    assert [m for m in mods if m not in ALLOWED] == mods[1:]
