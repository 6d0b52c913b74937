"""Reading and writing rasters safely: paths (local or remote), raster I/O, output safety
(atomic writes, locks, never overwriting an input), polygon masks."""
