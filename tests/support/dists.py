"""Distribution files for tests: small synthetic archives for handler tests, and real ones built
by `python -m build` for the end-to-end tests."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name


def _metadata(name: str, version: str, requires_python: str | None, requires: tuple[str, ...]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def make_wheel(
    name: str,
    version: str,
    *,
    requires_python: str | None = None,
    requires: tuple[str, ...] = (),
    metadata: str | None = None,
    omit: tuple[str, ...] = (),
    extra: Iterable[tuple[str | zipfile.ZipInfo, bytes]] = (),
    spelled: str | None = None,
    tags: str = "py3-none-any",
    build: str | None = None,
) -> tuple[str, bytes]:
    """A minimal valid pure-Python wheel: (filename, bytes); ``metadata`` replaces its METADATA text,
    ``omit`` leaves out .dist-info files by name (METADATA, WHEEL, RECORD), ``extra`` adds members as
    they are (not in RECORD). The file name is ``<spelled>-<version>[-<build>]-<tags>.whl``, where
    ``spelled`` is the distribution name as written (by default the normalized one)."""
    dist = canonicalize_name(name).replace("-", "_")
    written = spelled or dist
    info = f"{written}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": (metadata or _metadata(name, version, requires_python, requires)).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    kept = [(path, data) for path, data in files.items() if path.rpartition("/")[2] not in omit]
    build_tag = f"-{build}" if build else ""
    return f"{written}-{version}{build_tag}-{tags}.whl", zip_archive([*kept, *extra])


def make_sdist(
    name: str,
    version: str,
    *,
    pkg_info: str | None = None,
    extra: Iterable[tuple[str, bytes] | tarfile.TarInfo] = (),
) -> tuple[str, bytes]:
    """A minimal sdist (.tar.gz with one top-level directory and PKG-INFO): (filename, bytes);
    ``extra`` adds members as they are."""
    dist = canonicalize_name(name).replace("-", "_")
    top = f"{dist}-{version}"
    members = [
        (f"{top}/PKG-INFO", (pkg_info or _metadata(name, version, None, ())).encode()),
        (f"{top}/setup.py", b"from setuptools import setup\nsetup()\n"),
        *extra,
    ]
    return f"{top}.tar.gz", tar_gz(members)


def tar_gz(members: Iterable[tuple[str, bytes] | tarfile.TarInfo]) -> bytes:
    """A .tar.gz of regular files (name, bytes) and of members without data (links, FIFOs) as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for entry in members:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
                continue
            path, data = entry
            member = tarfile.TarInfo(path)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def tar_link(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    member.linkname = target
    return member


def zip_archive(members: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members:
            archive.writestr(path, data)
    return buffer.getvalue()


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip member that Info-ZIP's unzip unpacks as a symlink."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def build_project(
    workdir: Path,
    name: str,
    version: str,
    *,
    dependencies: tuple[str, ...] = (),
    requires_python: str = ">=3.8",
) -> list[Path]:
    """Write a tiny setuptools project and build its sdist and wheel with `python -m build`."""
    module = canonicalize_name(name).replace("-", "_")
    source = workdir / f"src-{module}-{version}"
    (source / module).mkdir(parents=True)
    (source / module / "__init__.py").write_text(f"VERSION = {version!r}\n")
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (source / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools>=69"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "{version}"
            requires-python = "{requires_python}"
            dependencies = [{deps}]

            [tool.setuptools]
            packages = ["{module}"]
            """
        )
    )
    out = workdir / f"dist-{module}-{version}"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return sorted(out.iterdir())
