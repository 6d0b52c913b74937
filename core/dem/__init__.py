"""DEM coregistration (Nuth & Kääb, vertical, blockwise) and terrain attributes."""
