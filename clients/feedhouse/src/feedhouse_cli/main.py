"""The `feedhouse` command: parse the command line, run the subcommand, turn failures into messages
and exit statuses (feedhouse_cli.errors)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from importlib.metadata import version

from feedhouse_cli import admin, config
from feedhouse_cli.api import Api, normalize_url
from feedhouse_cli.errors import AUTH, USAGE, CliError


def login(args: argparse.Namespace) -> None:
    url = normalize_url(args.deployment) if args.deployment else config.default_url()
    if url is None:
        raise CliError("Which deployment? `feedhouse login https://feeds.contoso.com`", USAGE)
    if args.device_code:
        token, stored = _device_code(url)
    else:
        token = stored = _read_token(args)
    who = Api(url, token).call("GET", "/api/whoami")
    if not who.get("authenticated"):
        raise CliError(f"{url} did not take the token as a login.", AUTH)
    where = config.store_login(url, stored, use_keyring=not args.no_keyring)
    name = "the admin" if who.get("admin") else _user(who)
    kept = "The sign-in (a refresh token) is" if args.device_code else "The token is"
    print(f"Logged in to {url} as {name}. {kept} kept in {where}.")
    print(f"Next: `feedhouse connect <feed>` points pip, uv, twine, poetry and pdm at a feed of {url}.")


def _user(who: dict) -> str:
    """A user as whoami shows them: signed in through the identity provider, with their name."""
    return f"{who['name']} ({who.get('user')})" if who.get("name") else str(who.get("user"))


def _device_code(url: str) -> tuple[str, str]:
    """Sign in through the deployment's identity provider with a device code (what it advertises at
    /-/client/config): its access token, and the sign-in to keep."""
    from feedhouse_keyring import signin

    advertised = (Api(url, None).call("GET", "/-/client/config") or {}).get("signin")
    if not advertised:
        raise CliError(
            f"{url} signs in with tokens only (no identity provider is configured): "
            f"`feedhouse login {url}` with a personal access token.",
            USAGE,
        )
    try:
        return signin.device_login(advertised, lambda message: print(message, file=sys.stderr, flush=True))
    except signin.SigninError as error:
        raise CliError(f"The sign-in did not succeed: {error}", AUTH) from None


def _read_token(args: argparse.Namespace) -> str:
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    elif os.environ.get("FEEDHOUSE_TOKEN"):
        token = os.environ["FEEDHOUSE_TOKEN"].strip()
    elif sys.stdin.isatty():
        token = getpass.getpass("Token (fhpat_…, input hidden): ").strip()
    else:
        raise CliError(
            "No token: pass it on standard input with --token-stdin, or set FEEDHOUSE_TOKEN.", USAGE
        )
    if not token:
        raise CliError("The token is empty.", USAGE)
    return token


def logout(args: argparse.Namespace) -> None:
    url = normalize_url(args.deployment) if args.deployment else config.default_url()
    if url is None:
        raise CliError("Not logged in anywhere.", USAGE)
    removed = config.forget_login(url)
    if removed:
        print(f"Logged out of {url}: removed " + "; ".join(removed) + ".")
    else:
        print(f"Nothing was stored for {url}.")


def build_parser() -> argparse.ArgumentParser:
    from feedhouse_cli import connect, doctor, importer

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the deployment (default: FEEDHOUSE_URL, else the one logged in to)")
    common.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    parser = argparse.ArgumentParser(
        prog="feedhouse",
        description="Connect pip, uv, twine, poetry and pdm to a Feedhouse feed, and administer feeds.",
        epilog="Exit statuses: 0 done, 1 failed or refused, 2 usage, 3 not logged in or token refused (401), "
        "4 not allowed (403), 5 not found (404), 6 server error (5xx), 7 deployment unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"feedhouse {version('feedhouse')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "login", help="check a token (or sign in) against a deployment and keep it for every client"
    )
    p.add_argument("deployment", nargs="?", help="the deployment URL, e.g. https://feeds.contoso.com")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--token-stdin", action="store_true", help="read the token from standard input (CI)")
    how.add_argument(
        "--device-code",
        action="store_true",
        help="sign in through the deployment's identity provider (Entra ID): open the URL shown and "
        "enter the code; keeps the sign-in, from which every client gets a current access token",
    )
    p.add_argument(
        "--no-keyring",
        action="store_true",
        help="keep the token in the credentials file, not the system keyring",
    )
    p.set_defaults(handler=login)

    p = sub.add_parser("logout", help="remove what login stored")
    p.add_argument("deployment", nargs="?")
    p.set_defaults(handler=logout)

    connect.add_parser(sub, common)
    doctor.add_parser(sub, common)
    importer.add_parser(sub, common)
    admin.add_parsers(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except CliError as error:
        print(f"feedhouse: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("feedhouse: interrupted", file=sys.stderr)
        return 130
    return 0
