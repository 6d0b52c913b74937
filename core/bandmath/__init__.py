"""Band math: safe s-expressions evaluated block by block on rasters on one grid."""
