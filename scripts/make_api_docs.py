"""Write docs/api.md, the reference of the Python API (``coreg.__all__``), from the
docstrings and signatures (inspect; no Sphinx).

Usage: /usr/bin/python3 scripts/make_api_docs.py [--check] [--output docs/api.md]

``--check`` writes nothing and exits 1 if docs/api.md differs from what the docstrings
give (the test suite runs it). The checkout is imported as ``coreg`` through a temporary
symlink, whatever its folder is called; numpy, scipy, rasterio and pyproj are needed.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import importlib
import inspect
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "api.md"
#: Sections of the page: (title, names of coreg.__all__ in it; the rest go to "Other").
GROUPS = (
    ("Entry points", ("align_image", "align_local", "align_dem", "align_stack",
                      "align_items", "apply_alignment", "band_math", "rectify_swath")),
    ("Measuring only, and saved alignments", ("estimate_alignment", "estimate_dem_alignment",
                                               "elevation_change_uncertainty",
                                               "read_alignment")),
    ("Reports", ("write_dem_report",)),
    ("Results", ("AlignmentResult", "Alignment", "PatchResult", "LocalAlignment",
                 "DemAlignment", "BlockShift", "ItemResult", "ItemsResult", "Applied",
                 "SwathResult", "PolygonMask", "PointOptions", "PointCloud")),
    ("Transforms (docs/transforms.md)", ("Transform", "Rigid", "AffineTransform", "BlockField",
                                         "DisplacementField", "Composite", "Uncertainty",
                                         "RigidModel")),
    ("Errors", ("CoregError", "CoregInputError", "CoregOutputError", "CoregResourceError",
                "CoregistrationError", "CanceledError", "BandMathError")),
)
#: numpy docstring sections whose entries are ``name : type`` lines.
ENTRY_SECTIONS = ("Parameters", "Returns", "Raises", "Yields", "Attributes")
ROLE = re.compile(r":(?:func|class|data|mod|attr|meth|obj|DOI):`~?\.?([^`]+)`")


def import_checkout():
    """The checkout as the package ``coreg`` (a symlink in a temporary folder)."""
    folder = Path(tempfile.mkdtemp(prefix="coreg-docs-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "coreg").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(folder))
    return importlib.import_module("coreg")


def inline(text: str) -> str:
    """RST inline markup as Markdown: ``x`` and :func:`x` become `x`."""
    text = ROLE.sub(lambda match: f"`{match.group(1)}`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def render_docstring(doc: str | None) -> list[str]:
    """A numpy-style docstring as Markdown lines."""
    lines = inspect.cleandoc(doc or "").splitlines()
    out: list[str] = []
    section = None
    k = 0
    while k < len(lines):
        line = lines[k]
        underline = lines[k + 1] if k + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-{3,}", underline.strip()):
            section = line.strip()
            out += ["", f"**{section}**", ""]
            k += 2
            continue
        if section in ENTRY_SECTIONS and line and not line.startswith(" "):
            name, _, kind = line.partition(" : ")
            names = ", ".join(f"`{n.strip()}`" for n in name.split(","))
            entry = f"- {names}" + (f" ({inline(kind.strip())})" if kind else "")
            description = []
            k += 1
            while k < len(lines) and (lines[k].startswith(" ") or not lines[k].strip()):
                if not lines[k].strip():
                    if k + 1 < len(lines) and lines[k + 1].startswith(" "):
                        k += 1
                        continue
                    break
                description.append(lines[k].strip())
                k += 1
            out.append(entry + (": " + inline(" ".join(description)) if description else ""))
            continue
        if line.rstrip().endswith("::"):  # a literal block follows
            out.append(inline(line.rstrip()[:-1]))
            block = []
            k += 1
            while k < len(lines) and (lines[k].startswith(" ") or not lines[k].strip()):
                block.append(lines[k][4:])
                k += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            out += ["", "```python", *block, "```", ""]
            continue
        out.append(inline(line))
        k += 1
    return out


def property_doc(cls: type, name: str) -> str:
    """The docstring of property ``name`` of ``cls`` or of the nearest base class's
    property of that name (inspect.getdoc also takes an inherited plain attribute's, i.e.
    its type's: bool's, on Python 3.13)."""
    for base in cls.__mro__:
        attribute = vars(base).get(name)
        if isinstance(attribute, property) and attribute.__doc__:
            return inspect.cleandoc(attribute.__doc__)
    return ""


def annotation(value) -> str:
    if value is inspect.Parameter.empty:
        return ""
    return value if isinstance(value, str) else inspect.formatannotation(value)


def signature(name: str, obj) -> str:
    """``name(parameters) -> return``, one parameter a line when it is long."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(...)"
    parts, previous = [], None
    for param in sig.parameters.values():
        if param.kind is param.KEYWORD_ONLY and previous not in (param.KEYWORD_ONLY,
                                                                  param.VAR_POSITIONAL):
            parts.append("*")
        prefix = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "")
        text = prefix + param.name
        if param.annotation is not param.empty:
            text += f": {annotation(param.annotation)}"
        if param.default is not param.empty:
            default = "<factory>" if param.default is dataclasses.MISSING else repr(
                param.default)
            text += f" = {default}" if param.annotation is not param.empty else f"={default}"
        parts.append(text)
        previous = param.kind
    returns = annotation(sig.return_annotation)
    tail = f" -> {returns}" if returns else ""
    one_line = f"{name}({', '.join(parts)}){tail}"
    if len(one_line) <= 88:
        return one_line
    return f"{name}(\n" + "".join(f"    {p},\n" for p in parts) + f"){tail}"


def document(name: str, obj) -> list[str]:
    """The Markdown section of one public name."""
    out = [f"### `coreg.{name}`", ""]
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        bases = ", ".join(b.__name__ for b in obj.__bases__)
        out += [f"*exception* `{name}({bases})`, exit code {obj.exit_code} on the command line"
                if hasattr(obj, "exit_code") else f"*exception* `{name}({bases})`", ""]
        out += render_docstring(obj.__doc__)
        return out
    if inspect.isclass(obj):
        declaration = signature(name, obj).removesuffix(" -> None")
        out += ["```python", f"class {declaration}", "```", ""]
        out += render_docstring(obj.__doc__)
        if dataclasses.is_dataclass(obj):
            out += ["", "**Fields**", ""]
            for f in dataclasses.fields(obj):
                out.append(f"- `{f.name}` ({annotation(f.type)})")
        methods = [(n, m) for n, m in vars(obj).items()
                   if not n.startswith("_") and (inspect.isfunction(m)
                                                 or isinstance(m, property))]
        if methods:
            out += ["", "**Methods**", ""]
            for method_name, method in methods:
                if isinstance(method, property):
                    summary = property_doc(obj, method_name).split("\n\n")[0]
                    out.append(f"- `{method_name}` (property)"
                               + (f": {inline(' '.join(summary.split()))}" if summary else ""))
                    continue
                summary = (inspect.getdoc(method) or "").split("\n\n")[0]
                call = signature(method_name, method).replace("self, ", "").replace("(self)",
                                                                                    "()")
                out.append(f"- `{' '.join(call.split())}`"
                           + (f": {inline(' '.join(summary.split()))}" if summary else ""))
        return out
    out += ["```python", signature(name, obj), "```", ""]
    out += render_docstring(obj.__doc__)
    return out


def build(coreg) -> str:
    names = [n for n in coreg.__all__ if n != "__version__"]
    grouped = [n for _, members in GROUPS for n in members]
    groups = [*GROUPS, ("Other", tuple(n for n in names if n not in grouped))]
    lines = [
        "# Python API",
        "",
        "<!-- Generated by scripts/make_api_docs.py from the docstrings: do not edit; run",
        "     /usr/bin/python3 scripts/make_api_docs.py after changing one. -->",
        "",
        "Everything below is imported from the package root, `import coreg` (the engine",
        "modules stay importable as `coreg.core.<module>`). Paths are `str` or",
        "`os.PathLike`; every entry point takes `progress` (a callable given the percentage",
        "done) and `is_canceled` (a callable polled during the run) and raises the errors",
        "listed at the end. The command line `coreg` (`coreg --help`) runs the same entry",
        "points.",
        "",
        *render_docstring(coreg.__doc__),
        "",
        "## Contents",
        "",
    ]
    for title, members in groups:
        if members:
            links = ", ".join(f"[`{n}`](#coreg{n.lower()})" for n in members)
            lines.append(f"- {title}: {links}")
    for title, members in groups:
        if not members:
            continue
        lines += ["", f"## {title}", ""]
        for name in members:
            lines += [*document(name, getattr(coreg, name)), ""]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the page is not up to date; write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = build(import_checkout())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run /usr/bin/python3 "
                  "scripts/make_api_docs.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
