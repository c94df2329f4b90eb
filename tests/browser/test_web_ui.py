"""The web UI as a person uses it: headless Chromium against the local host and Azurite.

A newcomer signs in with the admin token, creates a feed, publishes with the twine line the Connect
panel gives, browses to the package, copies the panel's pip line and installs with real pip; yanks a
version and sees pip skip it; deletes and restores it from the recycle bin; grants a role. A user creates
and revokes a token; a user without the role is refused with the API's message. A signed-out visitor is
refused private pages. Each main page is kept as a screenshot
(test-artifacts/screenshots/).
"""

from __future__ import annotations

import re
import secrets
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, create_token
from tests.e2e.clients import Clients
from tests.support.dists import make_wheel

PACKAGE = "acme-widgets"
README = """\
# Acme widgets

Widgets for **every** team.

```python
import acme_widgets
```

<script>document.title = "pwned"</script>
"""


def _metadata(version: str) -> str:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {PACKAGE}\nVersion: {version}\n"
        "Summary: Widgets for every team\n"
        "Requires-Python: >=3.9\n"
        "Requires-Dist: packaging>=21\n"
        "Description-Content-Type: text/markdown\n\n" + README
    )


def _build(tmp_path: Path, *versions: str) -> list[Path]:
    """``PACKAGE``'s wheels at ``versions``, in ``tmp_path``/dist/."""
    dist = tmp_path / "dist"
    dist.mkdir(exist_ok=True)
    files = []
    for version in versions:
        name, data = make_wheel(PACKAGE, version, metadata=_metadata(version))
        (dist / name).write_bytes(data)
        files.append(dist / name)
    return files


def _publish(clients: Clients, server, feed: str, tmp_path: Path, *versions: str) -> None:
    clients.twine_upload(f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *_build(tmp_path, *versions))


def _copy(page: Page, tab: str, snippet: str) -> str:
    """The Connect panel's ``snippet`` of ``tab``, copied with its button: the clipboard's text."""
    page.locator(f"label[for=tab-{tab}]").click()
    page.locator(f"#panel-{tab}").get_by_role("button", name=f"Copy {snippet}", exact=True).click()
    return page.evaluate("navigator.clipboard.readText()")


def _sign_in(page: Page, token: str) -> None:
    page.goto("/-/signin")
    page.get_by_label("Personal access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who")).to_contain_text("Signed in as")


def _pip_install_from_snippet(clients: Clients, snippet: str, target: Path, token: str) -> str:
    """Run the copied pip line (PACKAGE filled in) with real pip, isolated (its dependency is on PyPI,
    out of reach here: --no-deps); the version installed."""
    command = snippet.replace("PACKAGE", PACKAGE).replace(
        "pip install", f"{sys.executable} -m pip install --no-cache-dir --no-deps --target {target}", 1
    )
    clients.run("bash", "-c", command, env={"FEEDHOUSE_TOKEN": token})
    (info,) = target.glob("acme_widgets-*.dist-info")
    return info.name.removeprefix("acme_widgets-").removesuffix(".dist-info")


def _notice(page: Page) -> object:
    return expect(page.locator("main > .notice[role=status]"))


def test_a_newcomer_runs_a_feed_from_the_browser(new_context, server, screenshot, tmp_path):
    clients = Clients(tmp_path / "home")
    page = new_context().new_page()
    # Script errors and Content-Security-Policy violations (an inline script or style) end up here.
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    # The landing page, signed out: the deployment, the client's install line, a way to sign in.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    install_line = f"uv tool install --index {server.url}/-/client/simple/ feedhouse"
    expect(page.get_by_text(install_line)).to_be_visible()
    screenshot(page, "01-home-signed-out")
    page.get_by_role("link", name="Sign in with a token").click()
    expect(page.get_by_label("Personal access token")).to_be_visible()
    screenshot(page, "02-sign-in")
    page.get_by_label("Personal access token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    _notice(page).to_have_text("You are signed in.")

    # The admin creates a feed.
    feed = "ui-" + secrets.token_hex(4)
    page.get_by_label("Name").fill(feed)
    page.get_by_label("Description").fill("Packages of the widgets team")
    page.get_by_role("button", name="Create feed").click()
    _notice(page).to_have_text("The feed was created.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(feed)

    # Publish as the Connect panel's twine tab says (the token from the environment).
    _build(tmp_path, "1.0", "1.1")
    upload = _copy(page, "twine", "Shell, without ~/.pypirc")
    assert upload.startswith("twine upload --repository-url")
    command = upload.replace("twine", str(Path(sys.executable).parent / "twine"), 1)
    clients.run("bash", "-c", command, cwd=tmp_path, env={"FEEDHOUSE_TOKEN": ADMIN_TOKEN})
    page.goto("/")
    page.get_by_role("link", name=feed, exact=True).click()
    page.get_by_role("link", name=PACKAGE).click()
    expect(page.locator(".package-title")).to_contain_text("1.1")
    # The README, rendered as PyPI renders it: its heading, and its script removed, never run.
    expect(page.locator(".readme h1")).to_have_text("Acme widgets")
    assert page.title() != "pwned" and "<script" not in page.locator(".readme").inner_html()
    expect(page.locator(".file-hash code")).to_have_text(re.compile("^[0-9a-f]{64}$"))
    expect(page.locator(".deps")).to_contain_text("packaging>=21")
    screenshot(page, "04-package")

    # A simple page opened in the tab, and the URL hatch prints after an upload, lead to this page.
    page.goto(f"/{feed}/simple/{PACKAGE}/")
    expect(page).to_have_url(re.compile(rf"/-/feeds/{feed}/packages/{PACKAGE}/$"))
    page.goto(f"/{feed}/upload/{PACKAGE}/1.0/")
    expect(page.locator(".package-title")).to_contain_text("1.0")

    # The Connect panel: copy pip's line with its button, and install with it.
    page.goto(f"/-/feeds/{feed}/")
    # The Connect panel's tabs work from the keyboard: the first tab, then the arrow key to pip's.
    page.locator("#tab-feedhouse").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#panel-pip")).to_be_visible()
    expect(page.locator("#panel-feedhouse")).to_be_hidden()
    screenshot(page, "03-feed")
    page.get_by_role("button", name="Copy Install once (shell)").click()
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert ADMIN_TOKEN not in page.content()  # never a secret in a page
    assert _pip_install_from_snippet(clients, snippet, tmp_path / "first", ADMIN_TOKEN) == "1.1"

    # Yank 1.1: pip skips it.
    page.get_by_role("link", name=PACKAGE).click()
    page.get_by_label("Yank reason").fill("<b>broken</b> build")
    page.get_by_role("button", name="Yank 1.1").click()
    _notice(page).to_contain_text("The version was yanked")
    expect(page.locator(".notice-warn")).to_contain_text("<b>broken</b> build")  # shown as text
    screenshot(page, "05-package-yanked")
    assert _pip_install_from_snippet(clients, snippet, tmp_path / "second", ADMIN_TOKEN) == "1.0"

    # Delete 1.1, then restore it from the recycle bin.
    page.get_by_role("button", name="Delete 1.1").click()
    _notice(page).to_contain_text("moved to the recycle bin")
    expect(page.locator(".versions")).not_to_contain_text("1.1")
    page.get_by_role("link", name="Recycle bin").click()
    expect(page.locator("table")).to_contain_text("acme_widgets-1.1-py3-none-any.whl")
    screenshot(page, "06-recycle-bin")
    page.get_by_role("button", name="Restore").click()
    _notice(page).to_have_text("The version was restored from the recycle bin.")
    expect(page.get_by_text("The recycle bin is empty.")).to_be_visible()
    page.get_by_role("link", name="Packages").click()
    page.get_by_role("link", name=PACKAGE).click()
    expect(page.locator(".versions")).to_contain_text("1.1")

    # Grant a role: the grant is the API's too.
    page.get_by_role("link", name="Permissions").click()
    page.get_by_label("User", exact=True).fill("bob-" + feed)
    page.get_by_label("Role", exact=True).select_option("contributor")
    page.get_by_role("button", name="Grant").click()
    _notice(page).to_have_text("The role was granted.")
    expect(page.get_by_role("row", name=re.compile(f"bob-{feed}"))).to_contain_text("contributor")
    screenshot(page, "07-permissions")
    status, body = call(server, "GET", f"/api/feeds/{feed}/permissions")
    assert status == 200 and {"user": f"bob-{feed}", "role": "contributor"} in body["permissions"]

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Description")).to_have_value("Packages of the widgets team")
    screenshot(page, "08-settings")
    page.goto("/")
    screenshot(page, "09-home-admin")
    assert problems == []


def test_a_user_creates_and_revokes_a_token(new_context, server, screenshot):
    user = "alice-" + secrets.token_hex(3)
    page = new_context().new_page()
    _sign_in(page, create_token(server, user, scope="manage"))

    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token pre").inner_text().strip()
    assert secret.startswith("fhpat_")
    expect(page.get_by_role("row", name=re.compile("laptop"))).to_contain_text("read")
    expect(page.get_by_role("row", name=re.compile("laptop"))).to_contain_text("never")  # last use
    screenshot(page, "10-tokens")
    assert call(server, "GET", "/api/whoami", token=secret)[0] == 200

    page.goto("/-/tokens")  # shown once: not on the next visit
    assert secret not in page.content()
    expect(page.get_by_role("row", name=re.compile("laptop"))).to_contain_text("just now")
    page.get_by_role("row", name=re.compile("laptop")).get_by_role("button", name="Revoke").click()
    _notice(page).to_contain_text("The token was revoked")
    assert call(server, "GET", "/api/whoami", token=secret)[0] == 401


def test_a_user_without_the_role_is_refused_with_the_apis_message(new_context, server, screenshot):
    feed = create_feed(server, visibility="organization")
    user = "carol-" + secrets.token_hex(3)
    token = create_token(server, user, scope="manage")
    page = new_context().new_page()
    _sign_in(page, token)
    page.goto(f"/-/feeds/{feed}/settings")
    api_status, api_body = call(server, "PATCH", f"/api/feeds/{feed}", {"description": "x"}, token)
    assert api_status == 403
    expect(page.get_by_role("alert")).to_have_text(api_body["message"])
    screenshot(page, "11-refused")
    # A public feed's page, signed out: its packages and how to install, no owner's tabs.
    public = create_feed(server, visibility="public", description="Open to everyone")
    visitor = new_context().new_page()
    visitor.goto(f"/-/feeds/{public}/")
    expect(visitor.get_by_text("Anyone may install from this feed without a token")).to_be_visible()
    assert visitor.get_by_role("link", name="Settings").count() == 0
    screenshot(visitor, "12-public-feed-signed-out")


@pytest.mark.parametrize("path", ["/-/feeds/{feed}/", "/-/feeds/{feed}/packages/acme-widgets/", "/-/tokens"])
def test_a_signed_out_visitor_is_refused_private_pages(new_context, server, tmp_path, path):
    feed = create_feed(server, description="secret team")
    _publish(Clients(tmp_path / "home"), server, feed, tmp_path, "1.0")
    page = new_context().new_page()
    page.goto(path.format(feed=feed))
    expect(page).to_have_url(re.compile(r"/-/signin\?"))
    expect(page.get_by_text("Sign in to see that page.")).to_be_visible()
    # Nothing of the feed is shown (the package's name is only in the path the visitor asked for).
    assert "secret team" not in page.content() and "1.0" not in page.locator("main").inner_text()
    assert page.locator(".package-list, .package-title, .files").count() == 0
