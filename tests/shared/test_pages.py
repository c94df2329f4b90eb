from shared.packages import Project, StoredFile
from shared.pages import project_html, project_list_html


def stored(filename: str, requires_python: str | None = None) -> StoredFile:
    return StoredFile(
        project="demo",
        filename=filename,
        version="1.0",
        filetype="bdist_wheel",
        size=1,
        sha256="ab" * 32,
        blake2_256="cd" * 32,
        requires_python=requires_python,
        uploaded="2026-01-01T00:00:00Z",
        uploader="admin",
        blob="x",
    )


def test_project_list_escapes_display_names():
    page = project_list_html("team", [Project("a-b", "<script>")])
    assert '<a href="a-b/">&lt;script&gt;</a>' in page
    assert "<script>" not in page
    assert page.startswith("<!DOCTYPE html>")
    assert 'name="pypi:repository-version"' in page


def test_project_page_links():
    page = project_html("demo", [stored("demo-1.0-py3-none-any.whl", '>=3.8,!="3.9"')])
    assert 'href="../../files/demo/demo-1.0-py3-none-any.whl#sha256=' + "ab" * 32 + '"' in page
    assert 'data-requires-python="&gt;=3.8,!=&quot;3.9&quot;"' in page
    assert ">demo-1.0-py3-none-any.whl</a>" in page


def test_project_page_without_requires_python_has_no_attribute():
    assert "data-requires-python" not in project_html("demo", [stored("demo-1.0.tar.gz")])


def test_yank_reasons_and_metadata_hashes_are_escaped_attributes():
    from dataclasses import replace

    yanked = replace(
        stored("demo-1.0-py3-none-any.whl"),
        yanked=True,
        yanked_reason='"><script>alert(1)</script>',
        metadata_blob="x.metadata",
        metadata_sha256="ef" * 32,
        metadata_served=True,
    )
    page = project_html("demo", [yanked, replace(stored("demo-1.0.tar.gz"), yanked=True)])
    assert "<script>" not in page
    assert 'data-yanked="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert f'data-core-metadata="sha256={"ef" * 32}" data-dist-info-metadata="sha256={"ef" * 32}"' in page
    assert "data-yanked>demo-1.0.tar.gz</a>" in page


def test_json_page_values():
    import json
    from dataclasses import replace

    from shared.pages import project_json, project_list_json

    files = [
        replace(stored("demo-1.0-py3-none-any.whl", ">=3.8"), yanked=True, yanked_reason="bad"),
        replace(stored("demo-1.0.tar.gz"), yanked=True),
        replace(stored("demo-1.1.tar.gz"), version="1.1", metadata_blob="m", metadata_sha256="ef" * 32),
    ]
    doc = json.loads(project_json("demo", files, ["1.0", "1.1"]))
    assert doc["meta"] == {"api-version": "1.1"}
    wheel, sdist, unserved = doc["files"]
    assert (wheel["yanked"], sdist["yanked"], unserved["yanked"]) == ("bad", True, False)
    assert wheel["requires-python"] == ">=3.8" and "requires-python" not in sdist
    assert unserved["core-metadata"] is False  # stored but not to be served (metadata_served is False)
    assert (wheel["size"], wheel["upload-time"]) == (1, "2026-01-01T00:00:00Z")
    assert json.loads(project_list_json([Project("a-b", "A_B")]))["projects"] == [{"name": "A_B"}]
