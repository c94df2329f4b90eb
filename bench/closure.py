"""The files the installer workloads serve: a real dependency closure from PyPI, and a static tree.

``closure.txt`` pins what ``pip install flask requests`` resolves to; the wheels are downloaded from
PyPI once into ``bench/cache/wheels`` (ignored by git) and every server then serves exactly those.
"""

from __future__ import annotations

import hashlib
import html
import io
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from urllib.parse import quote

from packaging.tags import sys_tags
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

HERE = Path(__file__).resolve().parent
PINS = HERE / "closure.txt"
CACHE = HERE / "cache" / "wheels"
# What the clients ask for; the servers hold only the pinned closure, so they resolve to it.
REQUIREMENTS = ("flask", "requests")


def pins(text: str) -> dict[NormalizedName, Version]:
    """``name==version`` lines (comments and blank lines aside) as {normalized name: version}."""
    pinned = {}
    for line in text.splitlines():
        line = line.partition("#")[0].strip()
        if line:
            name, separator, version = line.partition("==")
            if not separator:
                raise ValueError(f"not a name==version pin: {line!r}")
            pinned[canonicalize_name(name)] = Version(version)
    return pinned


def pick(files: list[Path], pinned: dict[NormalizedName, Version]) -> dict[NormalizedName, Path]:
    """For each pin, the wheel among ``files`` this interpreter would install (its best tag)."""
    rank = {tag: i for i, tag in enumerate(sys_tags())}
    best: dict[NormalizedName, tuple[int, Path]] = {}
    for path in files:
        name, version, _build, tags = parse_wheel_filename(path.name)
        if pinned.get(name) != version:
            continue
        score = min((rank[tag] for tag in tags if tag in rank), default=None)
        if score is not None and (name not in best or score < best[name][0]):
            best[name] = (score, path)
    return {name: path for name, (_, path) in best.items()}


def wheels(env: dict[str, str], cache: Path = CACHE) -> list[Path]:
    """The closure's wheels for this interpreter, downloaded from PyPI into ``cache`` when missing."""
    pinned = pins(PINS.read_text())
    found = pick(sorted(cache.glob("*.whl")), pinned)
    if len(found) < len(pinned):
        cache.mkdir(parents=True, exist_ok=True)
        print(f"downloading the closure's wheels from PyPI into {cache}", flush=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"),
                *("--only-binary=:all:", "--no-deps", "--dest", str(cache), "-r", str(PINS)),
            ],
            env=env,
            check=True,
        )
        found = pick(sorted(cache.glob("*.whl")), pinned)
    absent = sorted(set(pinned) - set(found))
    if absent:
        raise RuntimeError(f"no wheel for this interpreter in {cache} for: {', '.join(absent)}")
    return sorted(found.values())


def core_metadata(wheel: bytes) -> bytes:
    """The wheel's ``.dist-info/METADATA``: what PEP 658 serves as ``<file>.metadata``."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise ValueError(f"expected one .dist-info/METADATA, found {names}")
        return archive.read(names[0])


def write_static_tree(root: Path, files: dict[str, bytes]) -> None:
    """A PEP 503 tree for a static file server: ``simple/`` with a page per project whose links carry
    ``#sha256=``, ``data-requires-python`` and the PEP 658/714 metadata hash, and ``files/`` with each
    file and its ``.metadata``. ``files`` are wheels, by file name."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[str]] = {}
    for filename, data in sorted(files.items()):
        metadata = core_metadata(data)
        (root / "files" / filename).write_bytes(data)
        (root / "files" / f"{filename}.metadata").write_bytes(metadata)
        requires_python = HeaderParser().parsestr(metadata.decode("utf-8"))["Requires-Python"]
        metadata_hash = "sha256=" + hashlib.sha256(metadata).hexdigest()
        attributes = f' data-dist-info-metadata="{metadata_hash}" data-core-metadata="{metadata_hash}"'
        if requires_python:
            attributes += f' data-requires-python="{html.escape(requires_python)}"'
        href = f"../../files/{quote(filename)}#sha256={hashlib.sha256(data).hexdigest()}"
        project = canonicalize_name(parse_wheel_filename(filename)[0])
        projects.setdefault(project, []).append(
            f'<a href="{href}"{attributes}>{html.escape(filename)}</a><br>'
        )
    for project, links in projects.items():
        page = root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_html(f"Links for {project}", links))
    index = [f'<a href="{project}/">{project}</a><br>' for project in sorted(projects)]
    (root / "simple" / "index.html").write_text(_html("Simple index", index))


def _html(title: str, lines: list[str]) -> str:
    body = "\n".join(lines)
    return f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{body}\n</body></html>\n"
