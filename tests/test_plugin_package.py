"""The installable zip: layout, metadata, and a real install into a fresh QGIS profile."""

import configparser
import importlib.util
import json
import re
import subprocess
import sys
import zipfile

import pytest

PLUGIN = "coreg"
ALIGN_IMAGE_ID = "coreg:align_image"
FORBIDDEN_FOLDERS = {"tests", "benchmarks", "scripts", "docs", ".ci", "__pycache__", ".git",
                     "sample"}
FORBIDDEN_FILES = {"Makefile", "ruff.toml", ".gitignore", "conftest.py"}


@pytest.fixture(scope="module")
def plugin_zip(repo_root, tmp_path_factory):
    """Run scripts/package.py (the script `make package` runs) into a temporary folder."""
    output = tmp_path_factory.mktemp("package") / "coreg.zip"
    completed = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "package.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert output.is_file()
    return output


def test_zip_has_one_top_folder_coreg(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    assert {name.split("/")[0] for name in names} == {PLUGIN}
    assert all(name.startswith(f"{PLUGIN}/") for name in names)


def test_zip_contains_plugin_files(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        names = set(archive.namelist())
    for required in (
        "metadata.txt",
        "__init__.py",
        "plugin.py",
        "LICENSE",
        "provider/__init__.py",
        "provider/provider.py",
        "provider/dependencies.py",
        "provider/installer.py",
        "provider/unavailable.py",
        "ui/installer.py",
        "ui/diagnostics.py",
        "ui/__init__.py",
        "resources/icon.svg",
        "algorithms/align_image.py",
    ):
        assert f"{PLUGIN}/{required}" in names, required
    assert any(name.startswith(f"{PLUGIN}/core/") and name.endswith(".py") for name in names), (
        "no core/ module in the zip"
    )


def test_zip_contains_no_development_files(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        names = archive.namelist()
    for name in names:
        parts = [part for part in name.split("/") if part]
        folders = parts if name.endswith("/") else parts[:-1]
        assert not FORBIDDEN_FOLDERS.intersection(folders), name
        assert not any(part.startswith(".") for part in parts), name
        assert not name.endswith((".pyc", ".pyo")), name
        if not name.endswith("/"):
            assert parts[-1] not in FORBIDDEN_FILES, name


def test_zip_metadata_is_complete(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        text = archive.read(f"{PLUGIN}/metadata.txt").decode("utf-8")
        names = set(archive.namelist())
    parser = configparser.ConfigParser()  # what QGIS itself uses to read metadata.txt
    parser.read_string(text)
    general = parser["general"]
    for key in (
        "name",
        "qgisMinimumVersion",
        "description",
        "about",
        "version",
        "author",
        "email",
        "repository",
        "tracker",
        "homepage",
        "icon",
        "category",
    ):
        assert general.get(key, "").strip(), key
    assert general["name"] == "Coreg"
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["hasProcessingProvider"] == "yes"
    assert f"{PLUGIN}/{general['icon']}" in names


def test_zip_installs_into_fresh_profile_and_lists_align_image(
    plugin_zip, tmp_path, make_qgis_process_runner
):
    """Unzip as Plugins > Install from ZIP does, then ask qgis_process for the algorithms."""
    config = tmp_path / "qgis-config"
    plugins_dir = config / "profiles" / "default" / "python" / "plugins"
    plugins_dir.mkdir(parents=True)
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(plugins_dir)
    assert (plugins_dir / PLUGIN / "metadata.txt").is_file()

    runner = make_qgis_process_runner(config)  # no QGIS_PLUGINPATH: only the profile
    returncode, stdout, stderr = runner("plugins", "enable", PLUGIN)
    assert returncode == 0, stdout + stderr

    returncode, stdout, stderr = runner("--json", "list")
    assert returncode == 0, stderr
    providers = json.loads(stdout)["providers"]
    assert PLUGIN in providers, f"providers: {sorted(providers)}\n{stderr}"
    assert providers[PLUGIN]["name"] == "Coreg"
    assert ALIGN_IMAGE_ID in providers[PLUGIN]["algorithms"], stderr


# ------------------------------------------- plugins.qgis.org upload rules


def _check_package(repo_root):
    spec = importlib.util.spec_from_file_location(
        "check_package", repo_root / "scripts" / "check_package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zip_passes_plugin_repository_checks(plugin_zip, repo_root):
    # The command `make package` runs after building the zip.
    completed = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "check_package.py"), str(plugin_zip)],
        capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert _check_package(repo_root).check(plugin_zip) == []


def _rezip(source, target, drop=(), add=None, rename_top=None, metadata=None):
    """Copy of ``source`` without the ``drop`` members, with extra ``add`` members,
    another top folder or another metadata.txt text."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            name = info.filename
            if name in drop:
                continue
            data = old.read(name)
            if metadata is not None and name == f"{PLUGIN}/metadata.txt":
                data = metadata.encode("utf-8")
            if rename_top:
                name = rename_top + name[len(PLUGIN):]
            new.writestr(name, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def test_package_checker_reports_each_broken_rule(plugin_zip, tmp_path, repo_root):
    check = _check_package(repo_root).check
    with zipfile.ZipFile(plugin_zip) as archive:
        metadata = archive.read(f"{PLUGIN}/metadata.txt").decode("utf-8")
    broken = {
        "compiled Python file": _rezip(plugin_zip, tmp_path / "pyc.zip",
                                       add={f"{PLUGIN}/core/__pycache__/x.cpython-311.pyc": b""}),
        "missing coreg/LICENSE": _rezip(plugin_zip, tmp_path / "lic.zip",
                                        drop={f"{PLUGIN}/LICENSE"}),
        "exactly one top folder": _rezip(plugin_zip, tmp_path / "two.zip",
                                         add={"other/readme.txt": b"x"}),
        "not a valid Python identifier": _rezip(plugin_zip, tmp_path / "dash.zip",
                                                rename_top="co-reg"),
        "missing or empty 'tracker'": _rezip(
            plugin_zip, tmp_path / "meta.zip",
            metadata=re.sub(r"(?m)^tracker=.*$", "tracker=", metadata)),
        "'repository' is not a valid URL": _rezip(
            plugin_zip, tmp_path / "url.zip",
            metadata=re.sub(r"(?m)^repository=.*$", "repository=http://repo", metadata)),
        "icon resources/icon.svg is not in the zip": _rezip(
            plugin_zip, tmp_path / "icon.zip", drop={f"{PLUGIN}/resources/icon.svg"}),
        "'experimental' must be True or False": _rezip(
            plugin_zip, tmp_path / "exp.zip",
            metadata=re.sub(r"(?m)^experimental=.*$", "experimental=maybe", metadata)),
    }
    for expected, path in broken.items():
        errors = check(path)
        assert any(expected in error for error in errors), (expected, errors)
