"""``feedhouse-example-app``: prints a greeting from feedhouse-example-greeting, its dependency."""

from feedhouse_example_greeting import greet


def main() -> None:
    print(greet("Feedhouse"))
