"""Core metadata from upload forms and from files (Warehouse's rules, with a private feed's exceptions)."""

import re

import pytest
from packaging.version import Version

from shared.distributions import SDIST, WHEEL
from shared.metadata import (
    CORE_METADATA_HELP,
    InvalidCoreMetadata,
    MetadataMismatch,
    check_file_metadata,
    metadata_from_form,
    raw_from_form,
    serves_as_core_metadata,
)

BASE = {"metadata_version": ["2.1"], "name": ["demo"], "version": ["1.0"]}


def form(**fields: str | list[str]) -> dict[str, list[str]]:
    return {**BASE, **{k: v if isinstance(v, list) else [v] for k, v in fields.items()}}


def test_form_fields_become_raw_metadata():
    raw = raw_from_form(
        form(
            metadata_version="2.4",
            classifiers=["A :: B", "C :: D"],
            keywords="one, two,three",
            project_urls=["Home, https://example.org", "Docs, https://docs.example.org"],
            platform="any",
            license_file=["LICENSE", "NOTICE"],
            requires_python="",  # uv always sends it, empty when unset
            author="UNKNOWN",  # distutils' placeholder is dropped, as Warehouse does
            sha256_digest="ab" * 32,  # not metadata
        )
    )
    assert raw == {
        "metadata_version": "2.4",
        "name": "demo",
        "version": "1.0",
        "classifiers": ["A :: B", "C :: D"],
        "keywords": ["one", "two", "three"],
        "project_urls": {"Home": "https://example.org", "Docs": "https://docs.example.org"},
        "platforms": ["any"],
        "license_files": ["LICENSE", "NOTICE"],
    }


def test_valid_form():
    metadata = metadata_from_form(
        form(requires_dist=["six>=1", "attrs; extra == 'x'"], requires_python=">=3.8")
    )
    assert (metadata.name, metadata.version) == ("demo", Version("1.0"))
    assert [str(r) for r in metadata.requires_dist] == ["six>=1", 'attrs; extra == "x"']


@pytest.mark.parametrize(
    "fields",
    [
        {"version": "1.0+cu121"},  # PyPI refuses local versions; private feeds host such builds
        {"classifiers": "Private :: Do Not Upload"},  # PyPI refuses unknown classifiers
    ],
)
def test_what_a_private_feed_accepts_and_pypi_does_not(fields):
    metadata_from_form(form(**fields))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"requires_python": ">=3.x"}, "'>=3.x' is invalid for 'requires-python'."),
        ({"requires_dist": "six>"}, "'six>' is invalid for 'requires-dist'."),
        (
            {"requires_dist": "pkg @ https://example.org/pkg.whl"},
            "Can't have direct dependency: pkg @ https://example.org/pkg.whl.",
        ),
        ({"summary": "x" * 513}, "'summary' field must be 512 characters or less."),
        ({"summary": ["one", "two"]}, "'summary' has invalid data."),
        (
            {"project_urls": "x" * 33 + ", https://example.org"},
            f"'{'x' * 33}' must be 32 characters or less.",
        ),
        ({"project_urls": "Home"}, "Must have a URL."),
        ({"project_urls": ["Home, https://a", "Home, https://b"]}, "'project_urls' has invalid data."),
        ({"license_expression": "MIT"}, "license-expression introduced in metadata version 2.4, not 2.1."),
        ({"description_content_type": "text/foo"}, "'description-content-type' must be one of"),
        ({"provides_dist": "a b c"}, "'a b c' is invalid:"),
        # the name's error wins over the others, as in Warehouse
        ({"name": "-demo-", "requires_python": ">=x"}, "'-demo-' is invalid for 'name'."),
    ],
)
def test_invalid_forms(fields, message):
    with pytest.raises(InvalidCoreMetadata) as error:
        metadata_from_form(form(**fields))
    assert error.value.status == 400
    assert message in error.value.message
    assert error.value.message.endswith(CORE_METADATA_HELP)


METADATA = b"Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0.0\nRequires-Dist: six\n\n"


def test_file_metadata_must_name_the_uploaded_project_and_version():
    raw = check_file_metadata(METADATA, filename="f.whl", name="demo-pkg", version=Version("1.0"))
    assert raw["requires_dist"] == ["six"]
    for name, version in [("other", "1.0"), ("demo-pkg", "2.0")]:
        with pytest.raises(
            MetadataMismatch, match=re.escape("The metadata in 'f.whl' is for 'Demo_Pkg' version '1.0.0'")
        ):
            check_file_metadata(METADATA, filename="f.whl", name=name, version=Version(version))
    with pytest.raises(MetadataMismatch):
        check_file_metadata(b"Summary: nothing else\n", filename="f.whl", name="demo", version=Version("1.0"))


@pytest.mark.parametrize(
    ("content", "filetype", "served"),
    [
        (b"Metadata-Version: 2.1\nName: a\nVersion: 1\n", WHEEL, True),
        (b"Metadata-Version: 2.1\nName: a\nVersion: 1\n", SDIST, False),
        (b"Metadata-Version: 2.2\nName: a\nVersion: 1\n", SDIST, True),
        (b"Metadata-Version: 2.4\nName: a\nVersion: 1\nDynamic: license\n", SDIST, True),
        (b"Metadata-Version: 2.4\nName: a\nVersion: 1\nDynamic: Requires-Dist\n", SDIST, False),
        (b"Metadata-Version: 2.4\nName: a\nVersion: 1\nDynamic: requires-python\n", SDIST, False),
        (b"Name: a\nVersion: 1\n", SDIST, False),
    ],
)
def test_which_metadata_is_served(content, filetype, served):
    from shared.metadata import read_metadata_file

    assert serves_as_core_metadata(read_metadata_file(content), filetype) is served
