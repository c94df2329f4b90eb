"""Lockfiles read into the versions they pin: files written by the real uv, pip and Poetry (kept in
tests/shared/lockfiles/, and written afresh offline on every run), and bad or hostile input, which is
a named 4xx error naming the line or entry."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from shared.errors import BadRequest
from shared.lockfiles import (
    MAX_ENTRIES,
    MAX_LOCKFILE_BYTES,
    IncludeRefused,
    LockedFile,
    Lockfile,
    LockfileFormat,
    LockfileTooLarge,
    MalformedLockfile,
    Pin,
    TooManyLockfileEntries,
    UnknownLockfileFormat,
    UnpinnedRequirement,
    parse_lockfile,
)
from tests.support.coldstart import loaded_at_cold_start
from tests.support.dists import make_sdist, make_wheel

FIXTURES = Path(__file__).parent / "lockfiles"
BIN = Path(sys.executable).parent
IDNA_SDIST = "028ff3aadf0609c1fd278d8ea3089299412a7a8b9bd005dd08b9f8285bcb5cfc"
IDNA_WHEEL = "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0"
HUGE = "1" * 5000


def pins_of(lockfile: Lockfile) -> list[tuple[str, str]]:
    return [(p.project, str(p.version)) for p in lockfile.pins]


def pin(lockfile: Lockfile, project: str) -> Pin:
    return next(p for p in lockfile.pins if p.project == project)


# Files the real tools wrote ------------------------------------------------------------------------

TOOL_FILES = [
    ("uv.lock", LockfileFormat.UV, "26.4"),
    ("poetry.lock", LockfileFormat.POETRY, "26.4"),
    ("pylock.toml", LockfileFormat.PYLOCK, "26.4"),
    ("pylock.pip.toml", LockfileFormat.PYLOCK, "26.4"),
    ("requirements.txt", LockfileFormat.REQUIREMENTS, "26.4"),
]


@pytest.mark.parametrize(("filename", "fmt", "packaging_version"), TOOL_FILES)
@pytest.mark.parametrize("named", [True, False], ids=["by-name", "by-content"])
def test_lockfiles_written_by_uv_poetry_and_pip_pin_what_they_lock(filename, fmt, packaging_version, named):
    lockfile = parse_lockfile(
        (FIXTURES / filename).read_bytes(), f"services/api/{filename}" if named else None
    )
    assert lockfile.format is fmt
    # The project itself (uv's virtual root "lockdemo") is no pin: no feed serves it.
    assert pins_of(lockfile) == [
        ("certifi", "2026.10.19.post1"),
        ("idna", "3.7"),
        ("packaging", packaging_version),
    ]
    idna = pin(lockfile, "idna")
    assert {f.sha256 for f in idna.files} >= {IDNA_WHEEL} and idna.version == Version("3.7")
    if fmt is not LockfileFormat.REQUIREMENTS:  # a requirements file has hashes only
        assert LockedFile("idna-3.7-py3-none-any.whl", IDNA_WHEEL) in idna.files


def test_a_stored_lockfile_reads_back_as_it_was():
    lockfile = parse_lockfile((FIXTURES / "uv.lock").read_bytes(), "uv.lock")
    assert Lockfile.from_json(lockfile.to_json()) == lockfile


@pytest.fixture(scope="module")
def local_index(tmp_path_factory) -> Path:
    """A PEP 503 index on disk, with hashes: a pre-release, a release and a post-release of demo-lib,
    and other with an sdist and a wheel."""
    root = tmp_path_factory.mktemp("index")
    files = root / "files"
    files.mkdir()
    dists = [make_wheel("demo-lib", v) for v in ("1.0rc1", "1.0", "1.0.post1")]
    dists += [make_wheel("other", "2.0"), make_sdist("other", "2.0")]
    projects: dict[str, list[str]] = {}
    for filename, data in dists:
        (files / filename).write_bytes(data)
        name = (
            parse_wheel_filename(filename)[0]
            if filename.endswith(".whl")
            else parse_sdist_filename(filename)[0]
        )
        url = (files / filename).as_uri() + "#sha256=" + hashlib.sha256(data).hexdigest()
        projects.setdefault(name, []).append(f'<a href="{url}">{filename}</a>')
    for name, anchors in projects.items():
        (root / "simple" / name).mkdir(parents=True)
        (root / "simple" / name / "index.html").write_text("<!DOCTYPE html><html><body>" + "".join(anchors))
    return root


def run_tool(*args: str | Path, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}
    subprocess.run([str(a) for a in args], cwd=cwd, env=env, check=True, capture_output=True, timeout=120)


def test_lockfiles_uv_and_pip_write_now_pin_the_locked_versions_and_files(local_index, tmp_path):
    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        textwrap.dedent("""
        [project]
        name = "app"
        version = "0.1.0"
        requires-python = ">=3.8"
        dependencies = ["demo-lib==1.0.post1", "other"]
        """)
    )
    index = (local_index / "simple").as_uri()
    uv = [BIN / "uv", "--offline", "--cache-dir", tmp_path / "cache"]
    run_tool(*uv, "lock", "--index-url", index, cwd=project)
    run_tool(*uv, "export", "--format", "requirements.txt", "-o", "requirements.txt", cwd=project)
    run_tool(*uv, "export", "--format", "pylock.toml", "-o", "pylock.toml", cwd=project)
    run_tool(
        sys.executable, "-m", "pip", "lock", "--no-cache-dir", "--index-url", index,
        "demo-lib==1.0.post1", "other", "-o", "pylock.pip.toml", cwd=project,
    )  # fmt: skip
    files = local_index / "files"
    sha = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files.iterdir()}
    for name in ("uv.lock", "requirements.txt", "pylock.toml", "pylock.pip.toml"):
        lockfile = parse_lockfile((project / name).read_bytes(), name)
        assert pins_of(lockfile) == [("demo-lib", "1.0.post1"), ("other", "2.0")], name
        demo = pin(lockfile, "demo-lib")
        assert {f.sha256 for f in demo.files} == {sha["demo_lib-1.0.post1-py3-none-any.whl"]}, name
        if name != "requirements.txt":
            assert {f.filename for f in demo.files} == {"demo_lib-1.0.post1-py3-none-any.whl"}, name
    other = pin(parse_lockfile((project / "uv.lock").read_bytes(), "uv.lock"), "other")
    assert other.files == (
        LockedFile("other-2.0-py3-none-any.whl", sha["other-2.0-py3-none-any.whl"]),
        LockedFile("other-2.0.tar.gz", sha["other-2.0.tar.gz"]),
    )


# Formats in detail -----------------------------------------------------------------------------------

SHA_A = "a" * 64
SHA_B = "B" * 64


def test_a_requirements_file_as_pip_reads_it():
    text = textwrap.dedent(f"""\
        # compiled by pip-compile
        --index-url https://feeds.example/team/simple/
        --extra-index-url https://pypi.org/simple
        -i https://feeds.example/other/simple/
        --require-hashes
        Requests[socks]==2.32.3 ; python_version >= "3.8" \\
            --hash=sha256:{SHA_A} \\
            --hash sha256:{SHA_B}
            # via app
        idna===3.7 --hash=sha512:{"c" * 128}
        typing_extensions==4.12.2; python_version < "3.12"  # only old Pythons
        certifi==2026.10.19.post1\\
        # a comment ends a line continued
        --hash=sha256:{SHA_A}
        requests==2.32.3.0
        -e ./local-project
        wheelhouse-tool @ https://example.com/wheelhouse_tool-1.0-py3-none-any.whl
        """)
    lockfile = parse_lockfile(text.encode(), "requirements/prod.txt")
    assert lockfile.format is LockfileFormat.REQUIREMENTS
    # Names are canonical, 2.32.3.0 is 2.32.3 (merged), sha512 is not kept, URL and editable are no pins.
    assert pins_of(lockfile) == [
        ("certifi", "2026.10.19.post1"),
        ("idna", "3.7"),
        ("requests", "2.32.3"),
        ("typing-extensions", "4.12.2"),
    ]
    assert pin(lockfile, "certifi").files == ()  # the --hash line after the comment is an option line
    assert pin(lockfile, "requests").files == (LockedFile(None, SHA_A), LockedFile(None, SHA_B.lower()))
    assert pin(lockfile, "idna").files == ()


def test_a_poetry_lock_of_poetry_1_lists_files_under_metadata():
    text = textwrap.dedent(f"""\
        [[package]]
        name = "six"
        version = "1.16.0"
        description = ""
        category = "main"
        optional = false
        python-versions = "*"

        [[package]]
        name = "mylib"
        version = "0.3.0"
        description = ""
        category = "main"
        optional = false
        python-versions = "*"
        develop = false

        [package.source]
        type = "git"
        url = "https://git.example/mylib.git"
        reference = "main"
        resolved_reference = "0123456789abcdef"

        [metadata]
        lock-version = "1.1"
        python-versions = "^3.8"
        content-hash = "0123"

        [metadata.files]
        six = [
            {{file = "six-1.16.0-py2.py3-none-any.whl", hash = "sha256:{SHA_A}"}},
            {{file = "six-1.16.0.tar.gz", hash = "sha256:{"b" * 64}"}},
            {{file = "six-1.15.0.tar.gz", hash = "sha256:{"c" * 64}"}},
        ]
        mylib = []
        """)
    lockfile = parse_lockfile(text.encode(), None)
    assert lockfile.format is LockfileFormat.POETRY
    assert pins_of(lockfile) == [("six", "1.16.0")]  # the Git dependency comes from no index
    assert [f.filename for f in lockfile.pins[0].files] == [
        "six-1.16.0-py2.py3-none-any.whl",
        "six-1.16.0.tar.gz",
    ]


def test_uv_lock_pins_only_packages_from_an_index():
    text = textwrap.dedent(f"""\
        version = 1
        requires-python = ">=3.11"

        [[package]]
        name = "app"
        version = "0.1.0"
        source = {{ editable = "." }}

        [[package]]
        name = "member"
        source = {{ virtual = "packages/member" }}

        [[package]]
        name = "from-git"
        version = "1.0"
        source = {{ git = "https://git.example/x.git?rev=main#0123456789abcdef" }}

        [[package]]
        name = "from-path"
        version = "1.0"
        source = {{ path = "vendor/from_path-1.0-py3-none-any.whl" }}

        [[package]]
        name = "numpy"
        version = "2.1.0"
        source = {{ registry = "https://feeds.example/team/simple/" }}
        sdist = {{ url = "https://feeds.example/numpy-2.1.0.tar.gz", hash = "sha256:{SHA_A}" }}

        [[package]]
        name = "numpy"
        version = "1.26.4"
        source = {{ registry = "https://feeds.example/team/simple/" }}
        wheels = [{{ url = "https://feeds.example/team/files/numpy-1.26.4-cp39-cp39-win_amd64.whl" }}]
        """)
    lockfile = parse_lockfile(text.encode(), "uv.lock")
    assert pins_of(lockfile) == [("numpy", "1.26.4"), ("numpy", "2.1.0")]  # ordered by Version, not text
    assert lockfile.pins[0].files == (LockedFile("numpy-1.26.4-cp39-cp39-win_amd64.whl", None),)


def test_pylock_without_version_takes_it_from_the_file_names_and_skips_direct_sources():
    text = textwrap.dedent(f"""\
        lock-version = "1.0"
        created-by = "a-locker"

        [[packages]]
        name = "demo-lib"
        wheels = [{{ name = "demo_lib-1.0.post1-py3-none-any.whl", url = "https://x.example/d.whl", hashes = {{ sha256 = "{SHA_A}" }} }}]

        [[packages]]
        name = "from-vcs"
        vcs = {{ type = "git", url = "https://git.example/x.git", commit-id = "0123456789abcdef" }}
        """)  # noqa: E501 - a TOML inline table is one line
    lockfile = parse_lockfile(text.encode(), "pylock.prod.toml")
    assert lockfile.pins == (
        Pin("demo-lib", Version("1.0.post1"), (LockedFile("demo_lib-1.0.post1-py3-none-any.whl", SHA_A),)),
    )


# Bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "text", "error", "message"),
    [
        ("requirements.txt", "a==1.0\n-r base.txt\n", IncludeRefused, "line 2: '-r' names another file"),
        ("requirements.txt", "-rbase.txt\n", IncludeRefused, "line 1"),
        ("requirements.txt", "--requirement=base.txt\n", IncludeRefused, "line 1"),
        ("requirements.txt", "# c\n\n-c constraints.txt\n", IncludeRefused, "line 3"),
        ("requirements.txt", "a==1.0\nrequests>=2.0\n", UnpinnedRequirement, "line 2: 'requests>=2.0'"),
        ("requirements.txt", "requests==2.*\n", UnpinnedRequirement, "line 1"),
        ("requirements.txt", "requests>=2,==2.1\n", UnpinnedRequirement, "line 1"),
        ("requirements.txt", "requests\n", UnpinnedRequirement, "line 1"),
        (
            "requirements.txt",
            "a==1 \\\n  --hash=sha256:abc\n",
            MalformedLockfile,
            "line 1: a sha256 hash is 64",
        ),
        ("requirements.txt", "a==1 --hash=abc\n", MalformedLockfile, "line 1: a hash is written"),
        (
            "requirements.txt",
            "x==1\n\nnot a requirement!\n",
            MalformedLockfile,
            "line 3: 'not a requirement!'",
        ),
        (
            "requirements.txt",
            "a===not-pep-440\n",
            MalformedLockfile,
            "line 1 (a): 'not-pep-440' is not a valid",
        ),
        ("requirements.txt", f"a=={HUGE}\n", MalformedLockfile, "line 1 (a): '11111"),
        ("uv.lock", "version = 1\n[[package]\n", MalformedLockfile, "uv.lock is not valid TOML"),
        (
            "uv.lock",
            'version = 1\n[[package]]\nname = "a"\nsource = { registry = "https://x" }\n',
            MalformedLockfile,
            "uv.lock [[package]] #1 (a) has no version",
        ),
        (
            "uv.lock",
            'version = 1\n[[package]]\nname = "a"\nversion = "1"\nsource = { registry = "https://x" }\n'
            '[[package]]\nversion = "1.0"\nsource = { registry = "https://x" }\n',
            MalformedLockfile,
            "uv.lock [[package]] #2 has no name",
        ),
        (
            "uv.lock",
            f'version = 1\n[[package]]\nname = "a"\nversion = "1.{HUGE}"\n'
            'source = { registry = "https://x" }\n',
            MalformedLockfile,
            "uv.lock [[package]] #1 (a): '1.1111",
        ),
        (
            "uv.lock",
            'version = 1\n[[package]]\nname = "a"\nversion = "1"\n',
            MalformedLockfile,
            "#1 (a) has no source table",
        ),
        ("uv.lock", f"version = {HUGE}\n", MalformedLockfile, "a number too long"),
        ("uv.lock", "a = " + "[" * 100_000, MalformedLockfile, "nests arrays or tables too deeply"),
        ("poetry.lock", "a = " + "{b = " * 100_000, MalformedLockfile, "too deeply"),
        (
            "poetry.lock",
            '[[package]]\nname = "-a-"\nversion = "1"\n',
            MalformedLockfile,
            "poetry.lock [[package]] #1 (-a-): '-a-' is not a valid project name",
        ),
        (
            "poetry.lock",
            '[[package]]\nname = "a"\nversion = "one"\n',
            MalformedLockfile,
            "poetry.lock [[package]] #1 (a): 'one' is not a valid version",
        ),
        ("poetry.lock", 'package = "a"\n', MalformedLockfile, "'package' must be an array of tables"),
        (
            "pylock.toml",
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "Not_Normal"\n'
            'directory = { path = "." }\n',
            MalformedLockfile,
            "pylock.toml: Name 'Not_Normal' is not normalized",
        ),
        (
            "pylock.toml",
            f'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "a"\nversion = "{HUGE}"\n'
            'directory = { path = "." }\n',
            MalformedLockfile,
            "pylock.toml: ",
        ),
        (
            "pylock.toml",
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "a"\n'
            'sdist = { name = "a-1.0.tar.gz", url = "https://x/a-1.0.tar.gz", hashes = { sha256 = "00" } }\n',
            MalformedLockfile,
            "pylock.toml [[packages]] #1 (a): a sha256 hash is 64 hexadecimal digits",
        ),
        (None, 'name = "x"\n', UnknownLockfileFormat, "neither a uv.lock"),
        ("locks/app.lock", "[tool]\n", UnknownLockfileFormat, "give its file name"),
    ],
)
def test_a_bad_lockfile_is_a_400_naming_what_is_wrong(filename, text, error, message):
    with pytest.raises(error) as raised:
        parse_lockfile(text.encode(), filename)
    assert isinstance(raised.value, BadRequest) and raised.value.status == 400
    assert message in raised.value.message, raised.value.message


def test_a_lockfile_that_is_not_utf8_is_malformed():
    with pytest.raises(MalformedLockfile, match="byte 2 is not"):
        parse_lockfile(b"a=\xff=1\n", "requirements.txt")


def test_a_lockfile_over_the_size_limit_is_refused_unread():
    with pytest.raises(LockfileTooLarge) as raised:
        parse_lockfile(b"#" * (MAX_LOCKFILE_BYTES + 1), "requirements.txt")
    assert raised.value.status == 413
    assert parse_lockfile(b"#" * MAX_LOCKFILE_BYTES, "requirements.txt").pins == ()


@pytest.mark.parametrize(
    ("filename", "entry"),
    [
        ("requirements.txt", "a{}==1.0\n"),
        ("uv.lock", '[[package]]\nname = "a{}"\nversion = "1"\nsource = {{ registry = "https://x" }}\n'),
        ("poetry.lock", '[[package]]\nname = "a{}"\nversion = "1"\n'),
    ],
)
def test_a_lockfile_of_too_many_entries_is_refused(filename, entry):
    header = "version = 1\n" if filename == "uv.lock" else ""
    text = header + "".join(entry.format(i) for i in range(MAX_ENTRIES + 1))
    with pytest.raises(TooManyLockfileEntries) as raised:
        parse_lockfile(text.encode(), filename)
    assert raised.value.status == 400 and str(MAX_ENTRIES) in raised.value.message
    at_limit = header + "".join(entry.format(i) for i in range(MAX_ENTRIES))
    assert len(parse_lockfile(at_limit.encode(), filename).pins) == MAX_ENTRIES


def test_the_app_starts_without_importing_packaging_pylock():
    """packaging.pylock (~9 ms of imports) loads with the first lockfile read, never on a cold start."""
    assert loaded_at_cold_start("packaging.pylock") == []
