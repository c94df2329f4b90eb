import io
import re
import tarfile
import zipfile

import pytest
from packaging.version import Version

from shared.distributions import (
    COMPRESSION_RATIO_MIN_SIZE,
    METADATA_MAX_BYTES,
    SDIST,
    WHEEL,
    InvalidDistribution,
    InvalidDistributionFilename,
    InvalidWheel,
    inspect_distribution,
    parse_distribution_filename,
)
from tests.support.dists import make_sdist, make_wheel, tar_gz, tar_link, zip_archive, zip_symlink


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


def zip_bytes(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer


def tar_gz_bytes(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer


WHEEL_FILES = {
    "demo/__init__.py": b"",
    "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n",
    "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
    "demo-1.0.dist-info/RECORD": b"",
}
WHEEL_NAME = parse_distribution_filename("demo-1.0-py3-none-any.whl")


@pytest.mark.parametrize(
    ("missing", "error", "message"),
    [
        (
            "WHEEL",
            InvalidDistribution,
            "Invalid distribution file. WHEEL not found at demo-1.0.dist-info/WHEEL",
        ),
        (
            "RECORD",
            InvalidWheel,
            "Wheel 'demo-1.0-py3-none-any.whl' does not contain the required RECORD file: "
            "demo-1.0.dist-info/RECORD",
        ),
        (
            "METADATA",
            InvalidWheel,
            "Wheel 'demo-1.0-py3-none-any.whl' does not contain the required METADATA file: "
            "demo-1.0.dist-info/METADATA",
        ),
    ],
)
def test_a_wheel_needs_wheel_record_and_metadata(missing, error, message):
    files = {k: v for k, v in WHEEL_FILES.items() if not k.endswith("/" + missing)}
    with pytest.raises(error) as raised:
        inspect_distribution(zip_bytes(files), WHEEL_NAME)
    assert raised.value.message == message


def test_the_dist_info_directory_is_the_one_the_file_name_names():
    files = {k.replace("demo-1.0.dist-info", "other-1.0.dist-info"): v for k, v in WHEEL_FILES.items()}
    with pytest.raises(InvalidDistribution, match=re.escape("WHEEL not found at demo-1.0.dist-info/WHEEL")):
        inspect_distribution(zip_bytes(files), WHEEL_NAME)


def test_only_stored_or_deflated_members():
    with pytest.raises(InvalidDistribution, match="File does not use a supported compression type"):
        inspect_distribution(zip_bytes(WHEEL_FILES, zipfile.ZIP_BZIP2), WHEEL_NAME)
    stored = inspect_distribution(zip_bytes(WHEEL_FILES, zipfile.ZIP_STORED), WHEEL_NAME)
    assert stored.metadata == WHEEL_FILES["demo-1.0.dist-info/METADATA"]


BOMB = b"\0" * (COMPRESSION_RATIO_MIN_SIZE + 1024)


def test_a_zip_bomb_is_refused_before_inflating():
    files = {**WHEEL_FILES, "demo/zeros.bin": BOMB}
    with pytest.raises(InvalidDistribution, match="File exceeds compression ratio of 50"):
        inspect_distribution(zip_bytes(files), WHEEL_NAME)


def test_a_tar_bomb_is_refused():
    files = {"demo-1.0/PKG-INFO": b"Name: demo\n", "demo-1.0/zeros.bin": BOMB}
    with pytest.raises(InvalidDistribution, match="File exceeds compression ratio of 50"):
        inspect_distribution(tar_gz_bytes(files), parse_distribution_filename("demo-1.0.tar.gz"))


def test_a_large_but_incompressible_archive_is_fine():
    # Below 64 MiB inflated the ratio does not matter (Warehouse's rule).
    files = {**WHEEL_FILES, "demo/zeros.bin": b"\0" * (1024 * 1024)}
    assert inspect_distribution(zip_bytes(files), WHEEL_NAME).metadata


def test_metadata_is_read_with_a_cap():
    files = {**WHEEL_FILES, "demo-1.0.dist-info/METADATA": b"\0" * (METADATA_MAX_BYTES + 1)}
    with pytest.raises(InvalidDistribution, match="larger than 16 MiB"):
        inspect_distribution(zip_bytes(files), WHEEL_NAME)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a/PKG-INFO": b"", "b/setup.py": b""}, "Incorrect number of top-level directories in sdist"),
        ({"demo-1.0/setup.py": b""}, "PKG-INFO not found at demo-1.0/PKG-INFO"),
        ({"PKG-INFO": b""}, "PKG-INFO not found at PKG-INFO/PKG-INFO"),
    ],
)
@pytest.mark.parametrize("extension", [".tar.gz", ".zip"])
def test_an_sdist_has_one_top_level_directory_with_pkg_info(files, message, extension):
    data = tar_gz_bytes(files) if extension == ".tar.gz" else zip_bytes(files)
    with pytest.raises(InvalidDistribution, match=message):
        inspect_distribution(data, parse_distribution_filename(f"demo-1.0{extension}"))


def test_zip_sdist_pkg_info_is_read():
    data = zip_bytes({"demo-1.0/PKG-INFO": b"Name: demo\n", "demo-1.0/setup.py": b""})
    contents = inspect_distribution(data, parse_distribution_filename("demo-1.0.zip"))
    assert contents.metadata == b"Name: demo\n"


def tar_directory(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.DIRTYPE
    return member


def fifo(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.FIFOTYPE
    return member


PKG_INFO = ("demo-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n")

# (case, the unsafe member, the other members of a .tar.gz sdist named demo-1.0.tar.gz)
UNSAFE_TAR_SDISTS = [
    ("dot-dot member", "demo-1.0/../../evil.py", [PKG_INFO, ("demo-1.0/../../evil.py", b"")]),
    ("dot-dot beside the top", "../evil.py", [PKG_INFO, ("../evil.py", b"")]),
    ("absolute member", "/tmp/evil.py", [PKG_INFO, ("/tmp/evil.py", b"")]),
    ("backslash dot-dot", "demo-1.0\\..\\..\\evil.py", [PKG_INFO, ("demo-1.0\\..\\..\\evil.py", b"")]),
    ("drive letter", "C:/evil.py", [PKG_INFO, ("C:/evil.py", b"")]),
    ("symlink out of the archive", "demo-1.0/link", [PKG_INFO, tar_link("demo-1.0/link", "../../etc")]),
    ("symlink out of the top", "demo-1.0/sub/link", [PKG_INFO, tar_link("demo-1.0/sub/link", "../../x")]),
    ("absolute symlink", "demo-1.0/link", [PKG_INFO, tar_link("demo-1.0/link", "/etc/passwd")]),
    ("backslash symlink", "demo-1.0/link", [PKG_INFO, tar_link("demo-1.0/link", "..\\..\\etc")]),
    ("drive symlink", "demo-1.0/link", [PKG_INFO, tar_link("demo-1.0/link", "C:\\Windows")]),
    ("hard link out of the archive", "demo-1.0/h", [PKG_INFO, tar_link("demo-1.0/h", "../x", hard=True)]),
    ("hard link out of the top", "demo-1.0/h", [PKG_INFO, tar_link("demo-1.0/h", "other/x", hard=True)]),
    ("absolute hard link", "demo-1.0/h", [PKG_INFO, tar_link("demo-1.0/h", "/etc/passwd", hard=True)]),
    ("top-level dot-dot", "..", [tar_directory(".."), ("../PKG-INFO", PKG_INFO[1])]),
    ("only ../PKG-INFO", "../PKG-INFO", [("../PKG-INFO", PKG_INFO[1])]),
    ("special file", "demo-1.0/fifo", [PKG_INFO, fifo("demo-1.0/fifo")]),
]


@pytest.mark.parametrize(
    ("case", "member", "members"), UNSAFE_TAR_SDISTS, ids=[c[0] for c in UNSAFE_TAR_SDISTS]
)
def test_a_tar_sdist_with_an_unsafe_member_is_refused_naming_it(case, member, members):
    with pytest.raises(InvalidDistribution) as raised:
        inspect_distribution(io.BytesIO(tar_gz(members)), parse_distribution_filename("demo-1.0.tar.gz"))
    assert raised.value.message.startswith(f"Invalid distribution file. Unsafe archive member {member!r}")


UNSAFE_ZIP_SDISTS = [
    ("dot-dot member", "demo-1.0/../../evil.py", [PKG_INFO, ("demo-1.0/../../evil.py", b"")]),
    ("absolute member", "/tmp/evil.py", [PKG_INFO, ("/tmp/evil.py", b"")]),
    ("backslash absolute", "\\evil.py", [PKG_INFO, ("\\evil.py", b"")]),
    ("only ../PKG-INFO", "../PKG-INFO", [("../PKG-INFO", PKG_INFO[1])]),
    ("symlink out of the top", "demo-1.0/link", [PKG_INFO, zip_symlink("demo-1.0/link", "../other")]),
    ("absolute symlink", "demo-1.0/link", [PKG_INFO, zip_symlink("demo-1.0/link", "/etc/passwd")]),
]


@pytest.mark.parametrize(
    ("case", "member", "members"), UNSAFE_ZIP_SDISTS, ids=[c[0] for c in UNSAFE_ZIP_SDISTS]
)
def test_a_zip_sdist_with_an_unsafe_member_is_refused_naming_it(case, member, members):
    with pytest.raises(InvalidDistribution) as raised:
        inspect_distribution(io.BytesIO(zip_archive(members)), parse_distribution_filename("demo-1.0.zip"))
    assert raised.value.message.startswith(f"Invalid distribution file. Unsafe archive member {member!r}")


UNSAFE_WHEEL_MEMBERS = [
    ("../evil.py", b""),
    ("demo/../../evil.py", b""),
    ("/etc/evil.py", b""),
    ("\\evil.py", b""),
    ("..\\evil.py", b""),
    ("demo\\..\\..\\evil.py", b""),
    ("C:/evil.py", b""),
    ("c:evil.py", b""),
    zip_symlink("demo/link", "../../etc/passwd"),
    zip_symlink("demo/link", "/etc/passwd"),
]


@pytest.mark.parametrize(
    "extra", UNSAFE_WHEEL_MEMBERS, ids=[getattr(m[0], "filename", m[0]) for m in UNSAFE_WHEEL_MEMBERS]
)
def test_a_wheel_with_an_unsafe_member_is_refused_naming_it(extra):
    filename, data = make_wheel("demo", "1.0", extra=[extra])
    name = extra[0] if isinstance(extra[0], str) else extra[0].filename
    with pytest.raises(InvalidDistribution) as raised:
        inspect_distribution(io.BytesIO(data), parse_distribution_filename(filename))
    assert raised.value.message.startswith(f"Invalid distribution file. Unsafe archive member {name!r}")


def test_links_and_dots_that_stay_inside_are_fine():
    tar = tar_gz(
        [
            tar_directory("demo-1.0"),
            PKG_INFO,
            ("demo-1.0/src/./setup.py", b""),
            tar_link("demo-1.0/src/link", "../PKG-INFO"),
            tar_link("demo-1.0/hard", "demo-1.0/PKG-INFO", hard=True),
            ("demo-1.0/..data", b""),
        ]
    )
    assert inspect_distribution(io.BytesIO(tar), parse_distribution_filename("demo-1.0.tar.gz")).metadata
    zipped = zip_archive([PKG_INFO, zip_symlink("demo-1.0/link", "PKG-INFO")])
    assert inspect_distribution(io.BytesIO(zipped), parse_distribution_filename("demo-1.0.zip")).metadata
    filename, data = make_wheel("demo", "1.0", extra=[zip_symlink("demo/link", "__init__.py")])
    assert inspect_distribution(io.BytesIO(data), parse_distribution_filename(filename)).metadata


def identities(*filenames: str) -> set[str]:
    return {parse_distribution_filename(f).identity for f in filenames}


def test_spellings_of_one_distribution_share_its_identity():
    assert (
        len(
            identities(
                "six-1.17.0-py2.py3-none-any.whl",
                "SIX-1.17.0-py2.py3-none-any.whl",
                "six-1.17.0.0-py3.py2-none-any.whl",
                "six-01.17.0-PY2.py3-none-ANY.whl",
            )
        )
        == 1
    )
    assert len(identities("six-1.17.0-1-py2.py3-none-any.whl", "six-1.17.0-01-py3.py2-none-any.whl")) == 1
    assert len(identities("six-1.17.0.tar.gz", "SIX-1.17.0.0.zip", "six-01.17.tar.gz")) == 1


def test_other_versions_build_tags_tag_sets_and_types_are_other_distributions():
    assert (
        len(
            identities(
                "six-1.17.0-py2.py3-none-any.whl",
                "six-1.17.0-1-py2.py3-none-any.whl",  # a build tag: a rebuilt wheel, another file
                "six-1.17.0-2-py2.py3-none-any.whl",
                "six-1.17.0-py3-none-any.whl",  # a subset of the tags is another set
                "six-1.17.1-py2.py3-none-any.whl",
                "six-1.17.0+local-py2.py3-none-any.whl",
                "six-1.17.0.tar.gz",
                "six-1.17.1.tar.gz",
            )
        )
        == 8
    )
