"""The transformation model every alignment is expressed in (`model`), its saved records
(`saved`), and applying it to rasters: one interpolation of the native pixels
(`resample`, `apply`)."""
