# Coreg QGIS plugin: set-up, tests, demo and packaging.
# Run from the repository root, as root on a bare Debian 12 (Bookworm):
#   make test    install what is needed, lint and run the test suite
#   make demo    install what is needed and align two Sentinel-2 images with qgis_process
# Python that can import qgis is Debian's /usr/bin/python3, never a pyenv/conda one.

SHELL := /bin/bash
.DEFAULT_GOAL := help

SYSTEM_PYTHON := /usr/bin/python3
VENV := .venv
VENV_STAMP := $(VENV)/.coreg-venv-stamp
# The benchmarks' python: Debian's, with the venv's PyPI packages (pystac for the STAC rows).
BENCH_PYTHON := $(VENV)/bin/python
DEV_REQUIREMENTS := scripts/requirements-dev.txt

# Debian packages: QGIS with its Python bindings and the plugin's Python dependencies
# (provider/dependencies.py: REQUIRED_PACKAGES; the optional threadpoolctl and
# distributed, which the tests use; python3-click, the command line's, which rasterio
# depends on too); python3-pip for the installer tests, OpenBLAS (on Debian 13 numpy
# otherwise gets the slow reference BLAS, which threadpoolctl cannot limit), Xvfb for
# the desktop tests; nginx, the static file server (HTTP range requests) of the
# STAC tests (scripts/serve_stac.sh); python3-fiona, with which the DEM tests and
# benchmark write GeoPackage point clouds and read glacier outlines; python3-h5py (ICESat-2
# ATL06 granules) and proj-data (the EGM96 geoid grid) for the DEM point references.
APT_PACKAGES := qgis python3-qgis qgis-providers gdal-bin nginx \
	python3-numpy python3-scipy python3-rasterio python3-affine python3-pyproj python3-click \
	python3-venv python3-pip python3-pytest python3-distributed \
	python3-hypothesis python3-jsonschema python3-threadpoolctl libopenblas0-pthread python3-fiona \
	python3-h5py proj-data \
	xvfb xauth

# Demo inputs (relative to the repository root; default: the OSCD Abu Dhabi pair in
# ../shared/data, else its crop in sample/) and output folder.
REF ?=
SEC ?=
DEMO_OUTPUT ?= demo-output

.PHONY: help deps venv test test-slow lint demo package bench bench-stale results-status fresh-root clean

help:
	@echo "make deps     install Debian packages (QGIS, rasterio, scipy, pyproj, ...) if missing"
	@echo "make venv     create $(VENV) (system site packages) with pytest-qgis and ruff"
	@echo "make test     deps + venv, then ruff and the pytest suite (but its slow checks)"
	@echo "make test-slow  the slow checks: a 10000 px DEM's memory, a pip install into a"
	@echo "              fresh venv without QGIS (tens of seconds each)"
	@echo "make lint     ruff check ."
	@echo "make demo     deps, then align SEC onto REF with qgis_process into $(DEMO_OUTPUT)/"
	@echo "              (make demo REF=a.tif SEC=b.tif)"
	@echo "make package  build dist/coreg.zip for Plugins > Manage and Install > Install from ZIP"
	@echo "              and check it against the plugins.qgis.org upload rules"
	@echo "make bench    deps, then the benchmarks (AROSICS, xdem, gefolki, xcube, gdal_calc, time series)"
	@echo "make bench-stale  rerun the benchmarks whose quoted results are stale (slow ones too)"
	@echo "make results-status  which results files the READMEs quote were measured on an"
	@echo "              engine that has changed since (benchmarks/stale.py; --check fails then)"
	@echo "make fresh-root  make demo and make test in a fresh debootstrap root (a clone of HEAD),"
	@echo "              timed (DIST=trixie for Debian 13, DATA=0 without ../shared/data)"

deps:
	@scripts/install_deps.sh $(APT_PACKAGES)

$(VENV_STAMP): $(DEV_REQUIREMENTS) scripts/make_venv.sh | deps
	@scripts/make_venv.sh $(VENV) $(DEV_REQUIREMENTS)
	@touch $@

venv: deps $(VENV_STAMP)

lint: venv
	$(VENV)/bin/ruff check --no-cache .

# Lint and tests both run; the target fails if either fails. The checks marked slow
# (tests/conftest.py) are test-slow's.
test: deps venv
	@status=0; \
	$(VENV)/bin/ruff check --no-cache . || status=1; \
	scripts/run_pytest.sh -m "not slow" tests || status=1; \
	exit $$status

test-slow: deps venv
	scripts/run_pytest.sh -m slow tests

demo: deps
	REF="$(REF)" SEC="$(SEC)" DEMO_OUTPUT="$(DEMO_OUTPUT)" scripts/demo.sh

package:
	@scripts/install_deps.sh python3
	$(SYSTEM_PYTHON) scripts/package.py --output dist/coreg.zip
	$(SYSTEM_PYTHON) scripts/check_package.py dist/coreg.zip

# Each script prints its table: global alignment vs AROSICS (synthetic cases, and the
# sensor-simulated validation corpus of tests/corpus.py), DEMs vs xdem, time series,
# band math vs gdal_calc.py, swaths vs xcube-resampling and gdalwarp, dense flow vs
# gefolki, non-rigid alignment vs AROSICS COREG_LOCAL.
bench: deps venv
	BENCH_PYTHON=$(BENCH_PYTHON) scripts/headless.sh $(BENCH_PYTHON) benchmarks/runs.py

# Rerun the runs whose quoted results files are stale (slow ones included): a release's
# READMEs then state what its engine measured.
bench-stale: deps venv
	BENCH_PYTHON=$(BENCH_PYTHON) scripts/headless.sh $(BENCH_PYTHON) benchmarks/runs.py --stale

# Which quoted results files a rerun would change (the engine files their run used moved).
results-status:
	$(SYSTEM_PYTHON) benchmarks/stale.py

# The README's two commands on a bare Debian (see scripts/fresh_root.sh for the options).
fresh-root:
	scripts/fresh_root.sh

clean:
	rm -rf dist $(DEMO_OUTPUT) .qgis-settings
