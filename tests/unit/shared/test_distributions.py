import io

import pytest
from packaging.version import Version

from shared.distributions import (
    SDIST,
    WHEEL,
    InvalidDistribution,
    InvalidDistributionFilename,
    inspect_distribution,
    parse_distribution_filename,
)
from tests.support.dists import make_sdist, make_wheel


def test_parse_wheel_and_sdist_names():
    wheel = parse_distribution_filename("Demo_Pkg-1.0-py3-none-any.whl")
    assert (wheel.name, wheel.version, wheel.filetype) == ("demo-pkg", Version("1.0"), WHEEL)
    sdist = parse_distribution_filename("demo_pkg-2.0rc1.tar.gz")
    assert (sdist.name, sdist.version, sdist.filetype) == ("demo-pkg", Version("2.0rc1"), SDIST)


@pytest.mark.parametrize(
    "filename", ["demo-1.0.exe", "demo.whl", "demo-1.0-py3.whl", "demo.tar.gz", "demo-x.y.tar.gz"]
)
def test_bad_distribution_names(filename):
    with pytest.raises(InvalidDistributionFilename):
        parse_distribution_filename(filename)


def test_wheel_metadata_is_read():
    filename, data = make_wheel("demo", "1.0", requires=("six",))
    contents = inspect_distribution(io.BytesIO(data), parse_distribution_filename(filename))
    assert b"Requires-Dist: six" in contents.metadata


def test_sdist_pkg_info_is_read():
    filename, data = make_sdist("demo", "1.0")
    contents = inspect_distribution(io.BytesIO(data), parse_distribution_filename(filename))
    assert b"Name: demo" in contents.metadata


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("demo-1.0-py3-none-any.whl", b"PK not really", "not a zipfile"),
        ("demo-1.0.tar.gz", b"\x1f\x8b garbage", "not a tarfile"),
        ("demo-1.0-py3-none-any.whl", make_sdist("demo", "1.0")[1], "not a zipfile"),
    ],
)
def test_bytes_that_are_not_the_archive(filename, data, message):
    with pytest.raises(InvalidDistribution, match=message):
        inspect_distribution(io.BytesIO(data), parse_distribution_filename(filename))


def test_wheel_without_metadata():
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo/__init__.py", "")
    with pytest.raises(InvalidDistribution, match="METADATA"):
        inspect_distribution(buffer, parse_distribution_filename("demo-1.0-py3-none-any.whl"))
