"""A greeting; feedhouse-example-app gets it from the same feed as a dependency."""


def greet(name: str) -> str:
    return f"Hello, {name}!"
