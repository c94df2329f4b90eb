# Two commands do everything on a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# A stamp of our own: npm's .bin entries are symlinks, whose targets npm dates as it likes.
AZURITE := tools/node_modules/.installed
CLIENT_WHEEL := wheelhouse/.built

.PHONY: run test lint bootstrap browser examples package checkov bench clean

bootstrap: $(VENV)/.installed $(AZURITE) $(CLIENT_WHEEL)

# The venv is rebuilt whenever a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Azurite is pinned in tools/package-lock.json; `npm ci` installs exactly that.
$(AZURITE): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The feedhouse client's wheel, which the app serves at /-/client/ (tools/client_wheel.py): built again
# when its sources or the version change.
$(CLIENT_WHEEL): shared/version.py $(shell find clients/feedhouse -name '*.py' -not -path '*/build/*') clients/feedhouse/pyproject.toml | $(VENV)/.installed
	$(PY) -m tools.client_wheel
	touch $@

# Feeds, packages and the admin token are kept in .feedhouse/; `make run FRESH=1` starts empty.
run: bootstrap
	$(PY) -m tools.run $(if $(FRESH),--fresh)

test: bootstrap browser
	$(PY) -m pytest $(PYTEST_ARGS)

# The web UI's browser tests (tests/browser) drive Debian's chromium through Playwright: Playwright's own
# browser download cannot work on our machines. Installed with apt where it is missing (with a font, so
# pages and screenshots have legible text).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; }

# Two tiny packages to try a feed with, built into examples/dist/: feedhouse-example-app depends on
# feedhouse-example-greeting. Built again only when their sources change: a rebuilt sdist has other
# bytes under the same name, which a feed refuses as PyPI does ("File already exists").
EXAMPLES := examples/dist/.built
examples: $(EXAMPLES)

$(EXAMPLES): $(wildcard examples/*/pyproject.toml examples/*/src/*/*.py) | $(VENV)/.installed
	rm -rf examples/dist
	$(PY) -m build --no-isolation --outdir examples/dist examples/greeting
	$(PY) -m build --no-isolation --outdir examples/dist examples/app
	touch $@

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The exact zip that would be deployed: tracked files minus .funcignore.
package:
	$(PYTHON) -m tools.package --output dist/feedhouse-app.zip

# checkov's Bicep checks, in a venv of their own (checkov pins an old pycep-parser); make test runs them too.
checkov: bootstrap
	$(PY) -m tests.infra.checkov_env

# Feedhouse against pypiserver, nginx and pip's --find-links floor, at loopback and at 5 ms of storage
# latency (not part of make test): figures in bench/results/. `make bench BENCH_ARGS=--quick` for a smoke run.
bench: bootstrap
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) tools/node_modules wheelhouse .pytest_cache .ruff_cache examples/dist examples/*/build
