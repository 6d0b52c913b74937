"""Build the installable plugin archive: a zip with one top folder ``coreg/``.

Usage: /usr/bin/python3 scripts/package.py [--output dist/coreg.zip] [--root REPO_ROOT]

Only the plugin's own files go in (the INCLUDE list below).  Inside the included
folders, caches, bytecode, editor backups and dotfiles are skipped, and so is any
``tests``/``benchmarks`` folder.  The result installs with
Plugins > Manage and Install Plugins > Install from ZIP.
"""

import argparse
import os
import sys
import zipfile

PLUGIN_FOLDER = "coreg"

# Files and folders of the repository that make up the plugin (not sample/, the demo's
# 1.8 MB image pair: the zip stays lean).
INCLUDE = (
    "metadata.txt",
    "__init__.py",
    "__main__.py",
    "cli.py",
    "plugin.py",
    "LICENSE",
    "README.md",
    "provider",
    "algorithms",
    "core",
    "ui",
    "resources",
)
# Must be present for a working plugin; the others are packaged when they exist.
REQUIRED = ("metadata.txt", "__init__.py", "plugin.py", "LICENSE", "provider", "resources")

SKIP_DIRS = {"__pycache__", "tests", "test", "benchmarks"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", ".swp", "~")


def _skipped(name):
    return name.startswith(".") or name.endswith(SKIP_SUFFIXES)


def collect_files(root):
    """Return sorted (absolute path, path inside the plugin folder) pairs."""
    files = []
    for entry in INCLUDE:
        path = os.path.join(root, entry)
        if os.path.isfile(path):
            files.append((path, entry))
        elif os.path.isdir(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not _skipped(d))
                for filename in sorted(filenames):
                    if _skipped(filename):
                        continue
                    full = os.path.join(dirpath, filename)
                    files.append((full, os.path.relpath(full, root).replace(os.sep, "/")))
    return sorted(files, key=lambda item: item[1])


def read_version(root):
    with open(os.path.join(root, "metadata.txt"), encoding="utf-8") as handle:
        for line in handle:
            key, sep, value = line.partition("=")
            if sep and key.strip() == "version":
                return value.strip()
    return "unknown"


def build(root, output):
    missing = [entry for entry in REQUIRED if not os.path.exists(os.path.join(root, entry))]
    if missing:
        raise SystemExit(f"package: missing required plugin files: {', '.join(missing)}")
    for entry in INCLUDE:
        if entry not in REQUIRED and not os.path.exists(os.path.join(root, entry)):
            print(f"package: warning: {entry} does not exist, not packaged", file=sys.stderr)

    files = collect_files(root)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp_output = output + ".part"
    with zipfile.ZipFile(tmp_output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # Folder entries first, so every unzip tool recreates the tree the same way.
        folders = {PLUGIN_FOLDER}
        for _full, arcname in files:
            parts = arcname.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folders.add(PLUGIN_FOLDER + "/" + "/".join(parts[:depth]))
        for folder in sorted(folders):
            info = zipfile.ZipInfo(folder + "/")
            info.external_attr = (0o40755 << 16) | 0x10  # directory, drwxr-xr-x
            archive.writestr(info, "")
        for full, arcname in files:
            archive.write(full, f"{PLUGIN_FOLDER}/{arcname}")
    os.replace(tmp_output, output)
    return files


def main(argv=None):
    default_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(default_root, "dist", "coreg.zip"))
    parser.add_argument("--root", default=default_root, help="repository root")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    files = build(root, args.output)
    print(
        f"package: wrote {args.output} (Coreg {read_version(root)}, "
        f"{len(files)} files in {PLUGIN_FOLDER}/)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
