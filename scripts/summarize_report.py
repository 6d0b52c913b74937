"""Print a short human summary of a Coreg align_image JSON report.

Usage: /usr/bin/python3 scripts/summarize_report.py demo-output/report.json
Keys are looked up at the top level first, then anywhere in nested objects, so the
summary survives a report whose layout groups values into sections.
"""

import json
import sys

_MISSING = object()


def find(report, key):
    """Return report[key], searching nested dicts/lists breadth-first."""
    queue = [report]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            if key in node:
                return node[key]
            queue.extend(node.values())
        elif isinstance(node, list):
            queue.extend(node)
    return _MISSING


def fmt(value, digits=3, general=False):
    """Format a number: fixed decimals, or significant digits when ``general``
    (map units may be degrees, where a sub-pixel shift is 1e-5)."""
    if value is _MISSING or value is None:
        return "n/a"
    if isinstance(value, (bool, int)):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits + 1}g}" if general else f"{value:.{digits}f}"
    return str(value)


def summary_lines(report):
    get = lambda key: find(report, key)  # noqa: E731
    crs = get("map_units_crs")
    crs_note = f"  ({crs})" if isinstance(crs, str) and crs else ""
    map_x = fmt(get("shift_x_map"), general=True)
    map_y = fmt(get("shift_y_map"), general=True)
    lines = [
        "Coreg alignment summary",
        f"  shift (pixels)      x = {fmt(get('shift_x_px'))}, y = {fmt(get('shift_y_px'))}"
        f"  (uncertainty {fmt(get('shift_uncertainty_px'))} px)",
        f"  shift (map units)   x = {map_x}, y = {map_y}{crs_note}",
        f"  rotation            {fmt(get('rotation_deg'), 4)} deg",
        f"  reliability         {fmt(get('reliability'))}",
        f"  patches used        {fmt(get('n_patches_used'))} / {fmt(get('n_patches'))}",
        f"  matching score      {fmt(get('matching_score_before'))}"
        f" -> {fmt(get('matching_score_after'))}",
    ]
    warnings = report.get("warnings") if isinstance(report, dict) else None
    if isinstance(warnings, list):
        lines.extend(f"  warning: {warning}" for warning in warnings)
    return lines


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"summarize_report: cannot read {argv[1]}: {error}", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
