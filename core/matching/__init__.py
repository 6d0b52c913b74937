"""The global image alignment: phase correlation of patches, the robust rigid fit, matching
scores and the uncertainty of the result (`align.align_image`)."""
