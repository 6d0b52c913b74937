"""Swath data with per-pixel coordinates rectified onto a regular grid."""
