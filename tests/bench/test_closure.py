from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.version import Version
from pypi_simple import ProjectPage

from bench.closure import core_metadata, pick, pins, write_static_tree
from tests.support.dists import make_wheel


def test_pins_are_name_version_lines_by_normalized_name() -> None:
    text = "# the closure\nFlask==3.1.3\n\ncharset_normalizer==3.5.3  # a comment\n"
    assert pins(text) == {"flask": Version("3.1.3"), "charset-normalizer": Version("3.5.3")}
    with pytest.raises(ValueError):
        pins("flask>=3\n")


def test_pick_takes_the_pinned_version_in_a_tag_this_interpreter_installs() -> None:
    files = [
        Path("flask-3.1.2-py3-none-any.whl"),  # not the pinned version
        Path("flask-3.1.3-py3-none-any.whl"),
        Path("markupsafe-3.0.4-cp27-cp27m-win32.whl"),  # not installable here
        Path("markupsafe-3.0.4-py3-none-any.whl"),
    ]
    picked = pick(files, {"flask": Version("3.1.3"), "markupsafe": Version("3.0.4"), "idna": Version("3.20")})
    assert picked == {"flask": files[1], "markupsafe": files[3]}  # idna: none, the caller downloads it


def test_the_static_tree_is_a_pep_503_index_with_pep_658_metadata(tmp_path: Path) -> None:
    name_a, wheel_a = make_wheel("Some.Project", "1.0", requires_python=">=3.9,<4")
    name_b, wheel_b = make_wheel("other", "2.0", requires=("some-project",))
    write_static_tree(tmp_path, {name_a: wheel_a, name_b: wheel_b})

    assert "some-project/" in (tmp_path / "simple" / "index.html").read_text()
    page_url = "http://127.0.0.1/simple/some-project/"
    page = ProjectPage.from_html(
        "some-project", (tmp_path / "simple/some-project/index.html").read_text(), page_url
    )
    [package] = page.packages
    assert package.url == f"http://127.0.0.1/files/{name_a}"
    assert package.digests == {"sha256": hashlib.sha256(wheel_a).hexdigest()}
    assert package.requires_python == ">=3.9,<4"
    metadata = (tmp_path / "files" / f"{name_a}.metadata").read_bytes()
    assert metadata == core_metadata(wheel_a) and b"Requires-Python: >=3.9,<4" in metadata
    assert package.has_metadata and package.metadata_digests == {
        "sha256": hashlib.sha256(metadata).hexdigest()
    }
    assert (tmp_path / "files" / name_a).read_bytes() == wheel_a
    other = (tmp_path / "simple/other/index.html").read_text()
    assert "data-requires-python" not in other  # none declared, none claimed
