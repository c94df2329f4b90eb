"""One distribution, one file: another spelling of a stored (or deleted) file's name is refused.

Two files of a project never share (version, build tag, tag set) as wheels or a version as sdists,
however their names spell the project, the version (1.17.0, 1.17.0.0, 01.17.0) or the tags
(py2.py3, py3.py2): pip would pick one of them, and the other could shadow the release.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from functions import packages_api as api
from shared.packages import read_project
from tests.functions.test_upload import blobs
from tests.support.dists import make_sdist, make_wheel
from tests.support.publish import call, publish
from tests.support.stored import key_of

SIX = "six-1.17.0-py2.py3-none-any.whl"


def body(response) -> str:
    return response.get_body().decode()


def other_wheel(version, **kwargs):
    """A wheel of six with bytes other than the stored one's."""
    return make_wheel("six", version, requires=("other",), **kwargs)


def stored_names(storage, feed):
    return sorted(f.filename for f in read_project(storage, key_of(feed), "six").files)


def test_the_issues_three_spellings_of_a_stored_wheel_are_refused(storage, app_env, feed_name):
    filename, data = make_wheel("six", "1.17.0", tags="py2.py3-none-any")
    assert filename == SIX
    assert publish(feed_name, filename, data, "six", "1.17.0").status_code == 200
    stored_blobs = blobs(app_env, feed_name)

    upper = publish(
        feed_name, *other_wheel("1.17.0", spelled="SIX", tags="py2.py3-none-any"), "SIX", "1.17.0"
    )
    assert upper.status_code == 400
    assert body(upper).startswith(
        f"Filename 'SIX-{SIX[4:]}' should contain the normalized project name 'six', not 'SIX'."
    )
    for version in ("1.17.0.0", "01.17.0"):
        respelled, other = other_wheel(version, tags="py2.py3-none-any")
        refused = publish(feed_name, respelled, other, "six", version)
        assert refused.status_code == 400, body(refused)
        assert body(refused).startswith(f"File already exists ('{respelled}'")
        assert SIX in body(refused)
    # The tags are a set: py3.py2 is py2.py3, also with the very same bytes.
    reordered = publish(feed_name, "six-1.17.0-py3.py2-none-any.whl", data, "six", "1.17.0")
    assert reordered.status_code == 400
    assert body(reordered).startswith("File already exists ('six-1.17.0-py3.py2-none-any.whl'")

    assert stored_names(storage, feed_name) == [SIX]
    assert blobs(app_env, feed_name) == stored_blobs
    assert publish(feed_name, filename, data, "six", "1.17.0").status_code == 200  # re-running twine


def test_a_build_tag_is_another_file_but_its_spellings_are_one(storage, feed_name):
    assert (
        publish(feed_name, *make_wheel("six", "1.17.0", tags="py2.py3-none-any"), "six", "1.17.0").status_code
        == 200
    )
    # A higher build tag is how a fixed wheel of the same release is published (the wheel spec's
    # tie-breaker, which PyPI accepts): another file.
    rebuilt, data = other_wheel("1.17.0", tags="py2.py3-none-any", build="1")
    assert publish(feed_name, rebuilt, data, "six", "1.17.0").status_code == 200
    respelled = publish(
        feed_name,
        *make_wheel("six", "1.17.0.0", requires=("x",), tags="py3.py2-none-any", build="01"),
        "six",
        "1.17.0.0",
    )
    assert respelled.status_code == 400
    assert body(respelled).startswith("File already exists")
    assert rebuilt in body(respelled)
    assert stored_names(storage, feed_name) == sorted([SIX, rebuilt])


def test_sdist_names_must_be_normalized(storage, app_env, feed_name):
    for name, version, filename in (
        ("SIX", "1.17.0", "SIX-1.17.0.tar.gz"),
        ("six", "01.17.0", "six-01.17.0.tar.gz"),
    ):
        _, data = make_sdist("six", version)
        refused = publish(feed_name, filename, data, name, version)
        assert refused.status_code == 400
        assert body(refused) == f"Filename '{filename}' is invalid, should be 'six-1.17.0.tar.gz'.\n"
    assert stored_names(storage, feed_name) == []
    assert blobs(app_env, feed_name) == []


def test_another_spelling_of_a_deleted_file_is_reuse(storage, app_env, feed_name):
    assert (
        publish(feed_name, *make_wheel("six", "1.17.0", tags="py2.py3-none-any"), "six", "1.17.0").status_code
        == 200
    )
    assert publish(feed_name, *make_sdist("six", "1.17.0"), "six", "1.17.0").status_code == 200
    wheel = other_wheel("1.17.0.0", tags="py3.py2-none-any")
    sdist = make_sdist("six", "1.17.0.0")

    def refused_as_reuse():
        for filename, data in (wheel, sdist):
            response = publish(feed_name, filename, data, "six", "1.17.0.0")
            assert response.status_code == 400, body(response)
            assert body(response).startswith(
                "This filename was previously used by a file that has since been deleted"
            ), body(response)

    kwargs = {"feed": feed_name, "project": "six", "version": "1.17.0"}
    assert call(api.version_item, "DELETE", "/x", **kwargs).status_code == 200
    refused_as_reuse()  # while in the bin
    assert call(api.purge, "DELETE", "/x", **kwargs).status_code == 200
    refused_as_reuse()  # and after the purge
    assert read_project(storage, key_of(feed_name), "six").active == []
    assert blobs(app_env, feed_name) == []


ROUNDS = 20
# Spellings of one wheel (and of one sdist) that race each other, with different bytes each.
WHEEL_SPELLINGS = [
    ("1.0", "py2.py3-none-any"),
    ("1.0.0", "py2.py3-none-any"),
    ("1.0.0.0", "py3.py2-none-any"),
    ("01.0", "PY3.py2-none-any"),
]
SDIST_SPELLINGS = ["1.0", "1.0.0", "1.0.0.0"]


def race(feed, project, uploads):
    """Publish every upload at once, each from its own thread: [(filename, response)]."""
    start = threading.Barrier(len(uploads))

    def one(upload):
        filename, data, version = upload
        start.wait()
        return filename, publish(feed, filename, data, project, version)

    with ThreadPoolExecutor(len(uploads)) as pool:
        return list(pool.map(one, uploads))


def test_racing_spellings_leave_exactly_one_file(storage, feed_name):
    """Uploads of one distribution under different spellings, all at once: exactly one wheel and one
    sdist win, each round (the rounds make a lost race show every run, not one run in many)."""
    for round_ in range(ROUNDS):
        project = f"race-{round_}"
        wheels = [(*make_wheel(project, version, tags=tags), version) for version, tags in WHEEL_SPELLINGS]
        sdists = [(*make_sdist(project, version), version) for version in SDIST_SPELLINGS]
        results = race(feed_name, project, wheels + sdists)
        statuses = {filename: response.status_code for filename, response in results}
        winners = sorted(f for f, status in statuses.items() if status == 200)
        assert sorted(f.endswith(".whl") for f in winners) == [False, True], (round_, statuses)
        for filename, response in results:
            if statuses[filename] != 200:
                assert response.status_code == 400, body(response)
                assert body(response).startswith(
                    ("File already exists", "Only one sdist may be uploaded per release.")
                ), body(response)
        assert sorted(f.filename for f in read_project(storage, key_of(feed_name), project).active) == winners
