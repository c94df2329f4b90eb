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
