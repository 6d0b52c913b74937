"""Coreg engine: coregistration of Earth-observation rasters, usable without QGIS.

Pipeline: ``raster_io`` (read, write) -> ``grid`` (common grid) -> ``match`` (patches,
phase correlation) -> ``fit`` (robust rigid model) -> ``resample``/``apply`` (resample
or re-georeference), orchestrated by :func:`coreg.core.align.align_image`. ``saved``
reads alignments back from reports, ``stack`` aligns time series onto an anchor,
``dem``/``terrain`` coregister DEMs, and ``local`` aligns non-rigidly (``tie_points``: a
grid of local matches and a smooth field; ``dense_flow``: optical flow).
``coregistered_stack`` stacks assets (rasters or ``stac`` items) on a reference,
evaluating ``band_math`` s-expressions via ``raster_math``; ``swath`` rectifies swath data
with per-pixel coordinates onto a regular grid.
"""
