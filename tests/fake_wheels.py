"""Tiny pure-Python wheels made on the spot, for pip runs against a local folder (no
network): ``pip install --no-index --find-links FOLDER``."""

import os


def wheel(folder, name, version, requires=(), padding=0):
    """A pure-Python wheel of ``name`` (module ``name`` with - as _) in ``folder``;
    ``padding`` bytes of stored data make its size known."""
    import zipfile

    module = name.replace("-", "_")
    dist = f"{module}-{version}"
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n",
        f"{module}/padding.bin": os.urandom(padding),
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n"
                                                     for r in requires),
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: coreg-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{path},,\n" for path in files) + \
        f"{dist}.dist-info/RECORD,,\n"
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, content in files.items():
            archive.writestr(member, content)
    return path
