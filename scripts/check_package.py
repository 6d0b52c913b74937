"""Check a plugin zip against the upload rules of the official QGIS plugin repository.

Usage: /usr/bin/python3 scripts/check_package.py dist/coreg.zip   (exit 1 on any error)

The rules are those plugins.qgis.org applies on upload (its validator: qgis/QGIS-Django,
``qgis-app/plugins/validator.py``; and the "Releasing your plugin" chapter of the PyQGIS
cookbook), minus the network checks of the URLs:

* a readable zip, at most 25 MB, no CRC error;
* no path information (``..``, absolute names), no ``.pyc``, no ``__MACOSX``, ``.git``
  or ``__pycache__`` folder;
* exactly one top folder, a valid Python identifier, holding ``__init__.py``,
  ``metadata.txt`` (section ``[general]``) and ``LICENSE``;
* the required metadata: name, description, version, qgisMinimumVersion, author, email,
  about, tracker, repository; author without ``/``; tracker, repository and homepage are
  http(s) URLs and not the template placeholders;
* what this project also requires (the cookbook's advice): homepage, tags, category,
  icon (present in the zip), experimental (a boolean), changelog; numeric version and
  qgisMinimumVersion; no other compiled or cache files (``.pyo``, ``.so``, ``.dll``,
  ``.pyd``, ``.DS_Store``, dotfiles).
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

MAX_SIZE = 25_000_000  # bytes, PLUGIN_MAX_UPLOAD_SIZE of plugins.qgis.org
REPOSITORY_REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author",
                       "email", "about", "tracker", "repository")
PROJECT_REQUIRED = ("homepage", "tags", "category", "icon", "experimental", "changelog")
FORBIDDEN_FOLDERS = ("__MACOSX", ".git", "__pycache__")
FORBIDDEN_SUFFIXES = (".pyc", ".pyo", ".so", ".dll", ".pyd", ".dylib", ".DS_Store")
PLACEHOLDER_URLS = {"tracker": "http://bugs", "repository": "http://repo",
                    "homepage": "http://homepage"}
BOOLEANS = ("true", "false", "1", "0", "yes", "no")
VERSION = re.compile(r"^\d+(\.\d+){1,2}([-.]?[A-Za-z0-9]+)?$")
CATEGORIES = ("Raster", "Vector", "Database", "Web", "Mesh", "Analysis", "Plugins")


def _name_errors(names: list[str]) -> list[str]:
    errors = []
    for name in names:
        parts = name.split("/")
        if ".." in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            errors.append(f"path information in the zip: {name}")
        if ".pyc" in name:
            errors.append(f"compiled Python file: {name}")
        elif name.endswith(FORBIDDEN_SUFFIXES):
            errors.append(f"compiled or system file: {name}")
        for folder in FORBIDDEN_FOLDERS:
            if folder in parts[:-1] or (folder == parts[-1] and name.endswith("/")):
                errors.append(f"forbidden folder {folder}: {name}")
        if any(part.startswith(".") for part in parts if part):
            errors.append(f"hidden file or folder: {name}")
    return sorted(set(errors))


def _metadata_errors(general: configparser.SectionProxy, names: set[str],
                     top: str) -> list[str]:
    errors = [f"metadata.txt: missing or empty '{key}'"
              for key in (*REPOSITORY_REQUIRED, *PROJECT_REQUIRED)
              if not general.get(key, "").strip()]
    if "/" in general.get("author", ""):
        errors.append("metadata.txt: author cannot contain slashes")
    for key in ("tracker", "repository", "homepage"):
        url = general.get(key, "").strip()
        parsed = urlparse(url)
        if url and (url == PLACEHOLDER_URLS[key] or parsed.scheme not in ("http", "https")
                    or not parsed.netloc):
            errors.append(f"metadata.txt: '{key}' is not a valid URL: {url}")
    if general.get("email", "").strip() and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                                                        general["email"].strip()):
        errors.append(f"metadata.txt: invalid email {general['email']}")
    for key in ("version", "qgisMinimumVersion", "qgisMaximumVersion"):
        value = general.get(key, "").strip()
        if value and not VERSION.match(value):
            errors.append(f"metadata.txt: '{key}' is not a version number: {value}")
    for key in ("experimental", "deprecated", "server"):
        value = general.get(key, "").strip()
        if value and value.lower() not in BOOLEANS:
            errors.append(f"metadata.txt: '{key}' must be True or False, not {value}")
    category = general.get("category", "").strip()
    if category and category not in CATEGORIES:
        errors.append(f"metadata.txt: category must be one of {', '.join(CATEGORIES)}")
    icon = general.get("icon", "").strip()
    if icon and f"{top}/{icon.removeprefix('./')}" not in names:
        errors.append(f"metadata.txt: icon {icon} is not in the zip")
    return errors


def check(path: Path) -> list[str]:
    """Every rule the zip breaks, as messages; an empty list means it can be uploaded."""
    path = Path(path)
    if path.stat().st_size > MAX_SIZE:
        return [f"zip too big: {path.stat().st_size} bytes > {MAX_SIZE}"]
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        return [f"not a zip file: {error}"]
    with archive:
        names = archive.namelist()
        errors = _name_errors(names)
        bad = archive.testzip()
        if bad:
            errors.append(f"bad zip (CRC error) on {bad}")
        tops = sorted({name.split("/")[0] for name in names})
        if len(tops) != 1 or not all("/" in name for name in names):
            return [*errors, f"the zip must hold exactly one top folder, found: {tops}"]
        top = tops[0]
        if not top.isidentifier():
            errors.append(f"top folder {top!r} is not a valid Python identifier")
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{top}/{required}" not in names:
                errors.append(f"missing {top}/{required}")
        if f"{top}/metadata.txt" not in names:
            return errors
        parser = configparser.ConfigParser()
        parser.optionxform = str  # keys are case-sensitive, as on plugins.qgis.org
        try:
            parser.read_string(archive.read(f"{top}/metadata.txt").decode("utf-8"))
        except (configparser.Error, UnicodeDecodeError) as error:
            return [*errors, f"metadata.txt cannot be parsed: {error}"]
        if not parser.has_section("general"):
            return [*errors, "metadata.txt has no [general] section"]
        return errors + _metadata_errors(parser["general"], set(names), top)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path)
    args = parser.parse_args(argv)
    errors = check(args.zip)
    for error in errors:
        print(f"check_package: {error}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_package: {args.zip} passes the plugin repository checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
