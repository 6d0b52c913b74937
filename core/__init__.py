"""Coreg engine: coregistration of Earth-observation rasters, usable without QGIS.

The public API is the package ``coreg`` (``coreg/__init__.py``); this folder is grouped by
what each part does:

* ``io/``: paths (local or remote), raster reading and writing, output safety (atomic
  writes, locks, never overwriting an input), polygon masks;
* ``grid``: georeferenced pixel grids and the common grid of two rasters;
* ``matching/``: the global alignment (``align``; its result ``alignment``): a coarse
  search for the offset (``coarse_search``, ``band_choice``, ``modality``), then the
  fine loop (``estimator``): patches matched by phase correlation (``match``,
  ``phase_correlation``, ``patch_screening``) or by structure across modalities
  (``structure_match``), the robust rigid fit (``fit``), scores (``metrics``) and the
  uncertainty of the result (``uncertainty``);
* ``transforms/``: the transformation model every alignment is expressed in (``model``),
  its saved records (``saved``) and applying it to rasters (``resample``, ``apply``);
* ``local/``: non-rigid alignment by tie points (on intensities or, across modalities,
  structure: ``feature_choice``) or dense optical flow, global or local by the data
  (``method_choice``);
* ``dem/``: DEM coregistration; ``swath/``: swaths with per-pixel coordinates;
* ``stack/``: time series on an anchor (in-process or on Dask; the anchor chosen by
  ``anchor_choice`` when not given) and stacks of assets;
* ``bandmath/``: band math expressions; ``stac/``: STAC items as inputs;
* ``errors``, ``results``, ``resources``, ``parallel``: what every part shares.
"""
