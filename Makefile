# Set-up and everyday targets. On a fresh Debian/Ubuntu machine (as root, or with sudo):
#   make demo   -- install what is missing, then run the experiment on the bundled reference
#   make test   -- install what is missing, then run the test suite with the real ImageJ
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# What the Debian packages provide: Java 11+, ImageJ 1.x, Rhino (ImageJ's JavaScript), Xvfb,
# Chromium (the headless browser the report test renders report.html in).
APT_PACKAGES := default-jre-headless libij-java librhino-java xvfb xauth chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)

.PHONY: all setup system venv demo test bench notebook clean

all: setup

setup: system venv

# Install only what is missing, so a machine that has it all needs no network.
system:
	@missing=""; \
	java -version >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	[ -f /usr/share/java/ij.jar ] || missing="$$missing libij-java"; \
	ls /usr/share/java/js.jar /usr/share/java/rhino.jar >/dev/null 2>&1 || missing="$$missing librhino-java"; \
	command -v Xvfb >/dev/null 2>&1 || missing="$$missing xvfb"; \
	command -v xauth >/dev/null 2>&1 || missing="$$missing xauth"; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || missing="$$missing chromium"; \
	$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages: all present (Java, ImageJ 1.x, Rhino, Xvfb, xauth, Chromium)"; fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "Python >= 3.10 is needed" or 0)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: setup
	$(VENV)/bin/einstein-from-noise run --out results --force

test: setup
	$(PY) -m pytest -q

# The tutorial (docs/tutorial.ipynb) in JupyterLab; installs JupyterLab into the venv when missing.
notebook: setup
	$(PY) -c 'import jupyterlab' >/dev/null 2>&1 || $(PY) -m pip install -q -e ".[test,notebook]"
	$(VENV)/bin/jupyter lab docs/tutorial.ipynb

bench: setup
	$(PY) bench/bench_engine.py


clean:
	rm -rf $(VENV) results .pytest_cache *.egg-info
