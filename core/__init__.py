"""Coreg engine: coregistration of Earth-observation rasters, usable without QGIS.

Pipeline: ``raster`` (read, write) -> ``grid`` (common grid) -> ``match`` (patches,
phase correlation) -> ``fit`` (robust rigid model) -> ``apply`` (resample or
re-georeference) , orchestrated by :func:`coreg.core.align.align_image`.
"""
