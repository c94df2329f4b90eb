"""`make package` (tools/package.py) builds exactly what is deployed, and what it builds runs."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pathspec
import pytest

from tools import package

ROOT = package.ROOT
SHIPPED_TOP_LEVEL = {
    "function_app.py",
    "__pycache__",  # function_app's bytecode
    "host.json",
    "requirements.txt",
    "functions",
    "shared",
    "wheelhouse",
}
# Decorators that turn a function into an Azure Function (python v2 programming model).
TRIGGERS = {
    "route",
    "schedule",
    "timer_trigger",
    "blob_trigger",
    "queue_trigger",
    "event_grid_trigger",
    "event_hub_message_trigger",
    "service_bus_queue_trigger",
    "service_bus_topic_trigger",
    "cosmos_db_trigger",
    "warm_up_trigger",
    "generic_trigger",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def tracked(name: str) -> bool:
    return bool(git(ROOT, "ls-files", "--", name).strip())


def write(root: Path, name: str, text: str = "") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A checkout with app code, development files, and local junk that git doesn't track."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet")
    shutil.copy(ROOT / ".funcignore", root / ".funcignore")
    tracked_files = [
        "function_app.py",
        "host.json",
        "requirements.txt",
        "functions/__init__.py",
        "functions/health.py",
        "shared/__init__.py",
        "shared/storage.py",
        "shared/templates/page.html",
        "tests/__init__.py",
        "tests/unit/test_x.py",
        "tests/infra/test_bicep.py",
        "tools/package.py",
        "tools/package.json",
        "infra/main.bicep",
        "infra/main.parameters.json",
        ".github/workflows/deploy.yml",
        ".ci/run",
        ".gitignore",
        "bench/bench.py",
        "docs/guide.md",
        "README.md",
        "Makefile",
        "pyproject.toml",
        "requirements-dev.txt",
        "azure.yaml",
    ]
    for name in tracked_files:
        write(root, name, f"# {name}\n")
    git(root, "add", "--", ".funcignore", *tracked_files)
    # Local state: never tracked, so never shipped, whatever .funcignore says.
    for name in [
        "local.settings.json",
        ".venv/bin/python",
        ".venv-checkov/bin/checkov",
        "__azurite_db_blob__.json",
        "__blobstorage__/x",
        "shared/__pycache__/storage.cpython-311.pyc",
        "shared/scratch.py",
        "dist/old.zip",
        ".python_packages/lib/site-packages/x.py",
    ]:
        write(root, name, "junk\n")
    return root


def test_scratch_package_holds_exactly_the_app(scratch_repo: Path, tmp_path: Path):
    output = tmp_path / "out" / "app.zip"
    files = package.build(scratch_repo, output)
    with zipfile.ZipFile(output) as archive:
        names = sorted(archive.namelist())
        assert archive.testzip() is None
    shipped = [
        "function_app.py",
        "functions/__init__.py",
        "functions/health.py",
        "host.json",
        "requirements.txt",
        "shared/__init__.py",
        "shared/storage.py",
        "shared/templates/page.html",
    ]
    compiled = [importlib.util.cache_from_source(n) for n in shipped if n.endswith(".py")]
    assert names == files == sorted(shipped + compiled)
    assert "shared/__pycache__/storage.cpython-311.pyc" in compiled or sys.version_info[:2] != (3, 11)


def test_package_is_reproducible(scratch_repo: Path, tmp_path: Path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    package.build(scratch_repo, first)
    os.utime(scratch_repo / "host.json", (0, 0))  # timestamps don't leak into the zip
    package.build(scratch_repo, second)
    assert first.read_bytes() == second.read_bytes()


def test_package_refuses_an_app_without_its_entry_point(scratch_repo: Path, tmp_path: Path):
    git(scratch_repo, "rm", "--cached", "--quiet", "function_app.py")
    with pytest.raises(package.PackageError, match=re.escape("function_app.py")):
        package.build(scratch_repo, tmp_path / "app.zip")


def test_package_needs_a_funcignore(scratch_repo: Path, tmp_path: Path):
    (scratch_repo / ".funcignore").unlink()
    with pytest.raises(package.PackageError, match=re.escape(".funcignore")):
        package.build(scratch_repo, tmp_path / "app.zip")


def test_cli_writes_the_zip_with_the_client_wheel(scratch_repo: Path, tmp_path: Path, capsys, monkeypatch):
    def fake_build(outdir: Path) -> Path:
        wheel = outdir / "feedhouse-9.9-py3-none-any.whl"
        wheel.write_bytes(b"a wheel")
        return wheel

    monkeypatch.setattr(package.client_wheel, "build", fake_build)
    output = tmp_path / "cli.zip"
    assert package.main(["--root", str(scratch_repo), "--output", str(output)]) == 0
    assert "14 files" in capsys.readouterr().out  # 8 of the app, 5 of them compiled, and the wheel
    with zipfile.ZipFile(output) as archive:
        assert archive.read("wheelhouse/feedhouse-9.9-py3-none-any.whl") == b"a wheel"


def test_funcignore_matcher_agrees_with_pathspec():
    """tools/package.py's matcher against pathspec's, on this working tree's files and some tricky names."""
    lines = (ROOT / ".funcignore").read_text().splitlines()
    # Deploy tools disagree on re-including files below an excluded directory: keep to plain exclusions.
    assert not [line for line in lines if line.startswith("!")]
    rules = package.parse_ignore(lines)
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    names = set()
    for directory, subdirs, filenames in os.walk(ROOT):
        # Virtualenvs and node_modules hold thousands of files and say nothing new.
        subdirs[:] = [d for d in subdirs if d != ".git" and not d.startswith(".venv") and d != "node_modules"]
        names |= {(Path(directory) / f).relative_to(ROOT).as_posix() for f in filenames}
    names |= {
        "shared/x.md",
        "shared/__pycache__/a.pyc",
        "functions/local.settings.json",
        "a/b/.gitkeep",
        ".env.production",
        "shared/.venv-x/lib.py",
        "x.egg-info/PKG-INFO",
    }
    disagreements = [n for n in sorted(names) if package.is_ignored(n, rules) != spec.match_file(n)]
    assert not disagreements


def _trigger_count(root: Path) -> int:
    """How many functions the code declares: handlers with a trigger decorator."""
    count = 0
    for path in [root / "function_app.py", *sorted((root / "functions").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    call = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if isinstance(call, ast.Attribute) and call.attr in TRIGGERS:
                        count += 1
                        break
    return count


needs_app = pytest.mark.skipif(
    not tracked("function_app.py"),
    reason="function_app.py isn't committed yet: the package is built from the files git tracks",
)


@needs_app
def test_this_repository_packages_only_the_app(tmp_path: Path, client_wheel: Path):
    output = tmp_path / "feedhouse-app.zip"
    files = package.build(ROOT, output, client_wheel)
    top_level = {name.split("/")[0] for name in files}
    assert top_level >= SHIPPED_TOP_LEVEL
    assert top_level <= SHIPPED_TOP_LEVEL, (
        f"unexpected in the package: {sorted(top_level - SHIPPED_TOP_LEVEL)}"
    )
    sources = {name for name in files if name.endswith(".py")}
    for name in files:
        assert not name.endswith((".pyo", ".md"))
        assert not name.endswith("local.settings.json")
        if "__pycache__" in name or name.endswith(".pyc"):  # only the bytecode of a shipped module
            assert importlib.util.source_from_cache(name) in sources, name
    assert {importlib.util.cache_from_source(name) for name in sources} <= set(files)
    assert [n for n in files if n.startswith("wheelhouse/")] == [f"wheelhouse/{client_wheel.name}"]


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if not found:
        pytest.skip("no Python 3.11 to build the app's venv with")
    return found


@needs_app
@pytest.mark.timeout(900)
def test_packaged_app_indexes_every_function_with_only_its_requirements(tmp_path: Path, client_wheel: Path):
    """What the platform does: a fresh venv with requirements.txt alone, the zip's contents, index the app;
    and the app finds the client's wheel it serves."""
    output = tmp_path / "feedhouse-app.zip"
    package.build(ROOT, output, client_wheel)
    app_dir = tmp_path / "app"
    with zipfile.ZipFile(output) as archive:
        archive.extractall(app_dir)

    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PYTHONNOUSERSITE"] = "1"
    subprocess.run([_python311(), "-m", "venv", str(venv)], check=True, env=env)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=app_dir,
        env=env,
        check=True,
    )
    # The shipped bytecode is what runs (the zip's mount is read-only: nothing could be compiled and
    # kept there): a module whose source would now fail still imports.
    with open(app_dir / "functions" / "health.py", "a") as source:
        source.write('\nraise ImportError("compiled from its source, not the shipped bytecode")\n')
    script = (
        "import json\n"
        "from function_app import app\n"
        "from functions.client import wheel\n"
        "assert wheel()[0][:2] == b'PK'\n"
        "print(json.dumps(sorted(f.get_function_name() for f in app.get_functions())))\n"
    )
    result = subprocess.run(
        [python, "-s", "-c", script], cwd=app_dir, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        untracked = git(
            ROOT, "ls-files", "--others", "--exclude-standard", "--", "function_app.py", "functions", "shared"
        )
        hint = (
            f"\nNot packaged because git doesn't track them (git add?): {untracked.split()}"
            if untracked
            else ""
        )
        pytest.fail(f"the packaged app doesn't import:\n{result.stderr}{hint}")
    names = json.loads(result.stdout.strip().splitlines()[-1])
    expected = _trigger_count(app_dir)
    assert expected > 0
    assert len(names) == expected, f"indexed {names}, but the code declares {expected} functions"
