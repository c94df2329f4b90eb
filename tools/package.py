"""Build the zip that is deployed to Azure: ``python -m tools.package [--output dist/feedhouse-app.zip]``.

What goes in: the files git tracks (``git ls-files``), so local state that git doesn't know about
(virtualenvs, ``local.settings.json``, emulator data, build output) can never ship, minus what
``.funcignore`` excludes (tests, infra, tools, ...), plus one built file: the `feedhouse` client's wheel,
built from clients/feedhouse into ``wheelhouse/`` (the app serves it at /-/client/; the remote build
installs only requirements.txt, so the wheel itself must be in the zip). The zip holds the project's
*contents* (host.json at its root) and no installed packages: the Flex Consumption remote build installs
requirements.txt. Entries
are sorted and time-stamped 1980-01-01, so the same tree always gives the same bytes.

Each module also ships compiled (``__pycache__/*.cpython-311.pyc``, for the runtime infra/ deploys):
the app runs from the zip, mounted read-only, where Python can write no bytecode, so without these
every cold start would compile every module again (about a third of importing the app). They are
"unchecked-hash" pycs: used without comparing the source's time stamp, which the zip sets to 1980 (the
source cannot change under a read-only mount), and the same bytes for the same source.

Publish it with ``az functionapp deployment source config-zip -g RG -n APP --src dist/feedhouse-app.zip``
(on Flex Consumption the CLI uses the one-deploy endpoint and a remote build for Python) or with
Azure/functions-action; see infra/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools import client_wheel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = Path("dist/feedhouse-app.zip")
IGNORE_FILE = ".funcignore"
# Without these the Functions host has nothing to run.
REQUIRED = ("function_app.py", "host.json", "requirements.txt")
# Where the app finds the client's wheel (functions/client.py).
WHEELHOUSE = "wheelhouse"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackageError(Exception):
    """The zip can't be built (not a git checkout, no .funcignore, a required file missing)."""


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over a slash-separated relative path."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i) and (i == 0 or pattern[i - 1] == "/"):
                if i + 2 == n:  # "dir/**": everything inside
                    out.append(".*")
                    i += 2
                    continue
                if pattern[i + 2] == "/":  # "**/": zero or more directories
                    out.append("(?:.*/)?")
                    i += 3
                    continue
            while i < n and pattern[i] == "*":  # any other run of stars: within one path segment
                i += 1
            out.append("[^/]*")
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body[0] in "!^":
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_ignore(lines: Iterable[str]) -> list[_Rule]:
    """The rules of a gitignore-style file: comments, ``!`` negation, ``dir/`` and anchored patterns, ``**``.

    As in git, a file under an excluded directory can't be re-included by a later ``!`` rule. Deploy tools
    differ on that corner, so .funcignore sticks to plain exclusions.
    """
    rules = []
    for raw in lines:
        line = raw.rstrip("\n").rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        # "!" negates; a backslash makes a leading "#" or "!" literal.
        if negate or line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        # A slash at the start or in the middle anchors the pattern to the root; otherwise any depth matches.
        anchored = "/" in line
        body = _translate(line.lstrip("/"))
        regex = re.compile(body if anchored else "(?:.*/)?" + body)
        rules.append(_Rule(regex, negate, dir_only))
    return rules


def _ignored(path: str, is_dir: bool, rules: Sequence[_Rule]) -> bool:
    result = False
    for rule in rules:  # the last matching rule wins
        if rule.dir_only and not is_dir:
            continue
        if rule.regex.fullmatch(path):
            result = not rule.negate
    return result


def is_ignored(path: str, rules: Sequence[_Rule]) -> bool:
    """Whether a file is excluded: by a rule for it, or for any directory above it (as git does)."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        if _ignored("/".join(parts[:depth]), True, rules):
            return True
    return _ignored(path, False, rules)


def tracked_files(root: Path) -> list[str]:
    try:
        listing = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PackageError(f"{root} is not a git checkout (git ls-files failed: {exc})") from None
    return sorted(name for name in listing.decode("utf-8").split("\0") if name)


def select_files(root: Path) -> list[str]:
    """The relative paths that go into the zip, sorted."""
    ignore_file = root / IGNORE_FILE
    if not ignore_file.is_file():
        raise PackageError(f"{ignore_file} is missing: without it tests, infra and tools would ship")
    rules = parse_ignore(ignore_file.read_text(encoding="utf-8").splitlines())
    # A tracked file deleted from the working tree isn't part of what is being packaged.
    files = [name for name in tracked_files(root) if not is_ignored(name, rules) and (root / name).is_file()]
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise PackageError(
            f"{', '.join(missing)} not in the package: git add them, and keep them out of {IGNORE_FILE}"
        )
    return files


def _compiled(name: str, path: Path, into: Path) -> tuple[str, Path]:
    """The bytecode of the module at ``path`` (``name`` in the zip), as the zip names it, compiled by
    this interpreter (the build runs on the runtime's Python: `make package` uses the venv's)."""
    relative = importlib.util.cache_from_source(name)
    target = into / relative
    py_compile.compile(
        str(path),
        cfile=str(target),
        dfile=name,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return relative, target


def build(root: Path, output: Path, wheel: Path | None = None) -> list[str]:
    """Write the deployment zip for the checkout at ``root`` to ``output``, with the client's ``wheel`` in
    ``wheelhouse/`` and each module's bytecode; return the files it holds."""
    sources = {name: root / name for name in select_files(root)}
    if wheel is not None:
        sources[f"{WHEELHOUSE}/{wheel.name}"] = wheel
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with tempfile.TemporaryDirectory() as scratch:
        for name in [n for n in sources if n.endswith(".py")]:
            compiled, path = _compiled(name, sources[name], Path(scratch))
            sources[compiled] = path
        files = sorted(sources)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name in files:
                path = sources[name]
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                info.external_attr = (0o100000 | mode) << 16  # a regular file with its permission bits
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    tmp.replace(output)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to package (default: this one)")
    parser.add_argument("--list", action="store_true", help="print every file that goes in")
    args = parser.parse_args(argv)
    output = args.output if args.output.is_absolute() else Path.cwd() / args.output
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = build(args.root.resolve(), output, client_wheel.build(Path(tmp)))
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    if args.list:
        print("\n".join(files))
    print(f"Wrote {args.output}: {len(files)} files, {output.stat().st_size / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
