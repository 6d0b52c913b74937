"""Coreg: sub-pixel coregistration of Earth-observation rasters for QGIS."""


def classFactory(iface):  # noqa: N802 - name required by QGIS
    """Entry point called by QGIS to create the plugin."""
    from .plugin import CoregPlugin

    return CoregPlugin(iface)
