"""``python -m coreg``: the command line (:mod:`cli`).

Only ``python -m`` runs this file; QGIS imports the package (``__init__.py``) and never
this module, and importing it does nothing.
"""

if __name__ == "__main__":
    import sys

    from .cli import main

    sys.exit(main())
