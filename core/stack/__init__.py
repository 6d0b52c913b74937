"""Time series: aligning a stack onto an anchor (in-process or on a Dask cluster) and
stacking assets on a common grid."""
