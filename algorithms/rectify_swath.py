"""Processing algorithm ``coreg:rectify_swath``: swath data with per-pixel coordinates onto a
regular grid."""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..core.swath.swath import INTERPOLATIONS, rectify_swath
from .base import CoregAlgorithm
from .cluster import CLUSTER_HELP, add_dask_parameters, dask_options
from .layers import requested

INTERPOLATION_LABELS = ("Nearest neighbour", "Triangular (linear in each triangle)", "Bilinear")


class RectifySwathAlgorithm(CoregAlgorithm):
    """Rectifies a swath raster (coordinates given per pixel) onto a regular grid."""

    INPUT, BANDS, X_COORDS, Y_COORDS = "INPUT", "BANDS", "X_COORDS", "Y_COORDS"
    X_BAND, Y_BAND, SOURCE_CRS, TARGET_CRS = "X_BAND", "Y_BAND", "SOURCE_CRS", "TARGET_CRS"
    PIXEL_SIZE, EXTENT, INTERPOLATION = "PIXEL_SIZE", "EXTENT", "INTERPOLATION"
    PREFILTER, OUTPUT, LOOKUP_OUTPUT = "PREFILTER", "OUTPUT", "LOOKUP_OUTPUT"

    def name(self) -> str:
        return "rectify_swath"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Rectify swath to regular grid")

    def tags(self) -> list[str]:
        return self.tr("swath,geolocation,rectify,level-1b,l2,sentinel-3,olci,slstr,modis,"
                       "viirs,ssmis,netcdf,lat,lon,curvilinear,gridding").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Puts swath data (Sentinel-3 OLCI/SLSTR, MODIS, VIIRS, SSMIS, SAR geolocation "
            "grids...) that come with two coordinate images instead of a geotransform onto "
            "a regular, georeferenced grid. INPUT may be a NetCDF/HDF subdataset such as "
            "NETCDF:\"file.nc\":rtoa_8; X/Y coordinates are the longitude/latitude (or x/y "
            "in the source CRS) of every pixel centre, same size as the input. Leave them "
            "empty to use the input's own geolocation (netCDF 'coordinates', VRT).\n"
            "Method: every source pixel quad is split into two triangles; each target pixel "
            "inside a triangle gets its fractional source position, and the bands are "
            "sampled there (nearest, triangular or bilinear). No data outside the swath.\n"
            "Target CRS: default the source CRS; a swath reaching a pole goes to polar "
            "stereographic (EPSG:3413/3976), a narrow one crossing the antimeridian to UTM "
            "(the log says which). Pixel size 0 = the median source pixel spacing. When the "
            "target pixel is much coarser than the source, tick the Gaussian prefilter "
            "against aliasing. The optional lookup raster holds, per target pixel, the "
            "fractional source column and row (pixel corner convention).\n"
            "Dask scheduler (advanced): strips of target rows run on the cluster's "
            "workers, each reading the swath; the results are the same as in QGIS. "
            + CLUSTER_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        # Files, not raster layers: qgis_process cannot load NETCDF:"f.nc":var as a layer.
        self.addParameter(QgsProcessingParameterFile(
            self.INPUT, self.tr("Swath raster (file or subdataset, e.g. NETCDF:\"f.nc\":var)")))
        self.addParameter(QgsProcessingParameterString(
            self.BANDS, self.tr("Bands, comma-separated (default: all)"), optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.X_COORDS, self.tr("X / longitude coordinates (default: input geolocation)"),
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.Y_COORDS, self.tr("Y / latitude coordinates (default: input geolocation)"),
            optional=True))
        for key, label in ((self.X_BAND, "X coordinates band"),
                           (self.Y_BAND, "Y coordinates band")):
            self.addParameter(QgsProcessingParameterNumber(
                key, self.tr(label), QgsProcessingParameterNumber.Type.Integer, 1, minValue=1))
        # Optional with a default: QGIS 3.22's qgis_process rejects an omitted mandatory one.
        self.addParameter(QgsProcessingParameterCrs(
            self.SOURCE_CRS, self.tr("CRS of the coordinates"), "EPSG:4326", optional=True))
        self.addParameter(QgsProcessingParameterCrs(
            self.TARGET_CRS, self.tr("Target CRS (default: automatic)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, self.tr("Pixel size (target CRS units; 0 = median source spacing)"),
            QgsProcessingParameterNumber.Type.Double, 0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, self.tr("Extent (default: the swath footprint)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.INTERPOLATION, self.tr("Interpolation"), list(INTERPOLATION_LABELS),
            defaultValue=2))
        self.addParameter(QgsProcessingParameterBoolean(
            self.PREFILTER, self.tr("Gaussian prefilter when the target pixel is coarser"),
            False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Rectified raster")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.LOOKUP_OUTPUT, self.tr("Lookup images (source column, row)"), optional=True,
            createByDefault=False))
        add_dask_parameters(self)

    def process(self, parameters, context, feedback):
        source = self.parameterAsFile(parameters, self.INPUT, context)
        coords = [self.parameterAsFile(parameters, key, context) or None
                  for key in (self.X_COORDS, self.Y_COORDS)]
        if (coords[0] is None) != (coords[1] is None):
            raise QgsProcessingException("Give both X and Y coordinate rasters, or neither "
                                         "(then the input's own geolocation is used).")
        target_crs, extent = self._target(parameters, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        lookup = (self.parameterAsOutputLayer(parameters, self.LOOKUP_OUTPUT, context)
                  if requested(parameters, self.LOOKUP_OUTPUT) else None)
        result = self.run_core(
            rectify_swath, feedback, source=source, output=output, lookup_output=lookup,
            x_coords=coords[0], y_coords=coords[1],
            x_band=self.parameterAsInt(parameters, self.X_BAND, context),
            y_band=self.parameterAsInt(parameters, self.Y_BAND, context),
            bands=_band_list(self.parameterAsString(parameters, self.BANDS, context)),
            source_crs=self._source_crs(parameters, context),
            target_crs=target_crs, extent=extent,
            pixel_size=self.parameterAsDouble(parameters, self.PIXEL_SIZE, context),
            interpolation=INTERPOLATIONS[self.parameterAsEnum(parameters, self.INTERPOLATION,
                                                              context)],
            prefilter=self.parameterAsBoolean(parameters, self.PREFILTER, context),
            **dask_options(self, parameters, context))
        for note in result.notes:
            feedback.pushInfo(note)
        for warning in result.warnings:
            feedback.pushWarning(self.labelled(warning))
        feedback.pushInfo(f"{result.painted_pixels} target pixels inside the swath.")
        results = {self.OUTPUT: output}
        if lookup:
            results[self.LOOKUP_OUTPUT] = lookup
        return results

    def _source_crs(self, parameters, context) -> str:
        """SOURCE_CRS as WKT, EPSG:4326 when not given."""
        crs = self.parameterAsCrs(parameters, self.SOURCE_CRS, context)
        return _crs_value(crs, parameters.get(self.SOURCE_CRS)) or "EPSG:4326"

    def _target(self, parameters, context) -> tuple[str | None, tuple | None]:
        """Target CRS (WKT, None = automatic) and extent (xmin, xmax, ymin, ymax) in it.

        An extent given with its own CRS and no target CRS makes that CRS the target."""
        crs = self.parameterAsCrs(parameters, self.TARGET_CRS, context)
        given = _crs_value(crs, parameters.get(self.TARGET_CRS))
        if not crs.isValid() and given is not None:
            return given, None  # not a CRS: the engine refuses it, naming it
        if not parameters.get(self.EXTENT):
            return (crs.toWkt() if crs.isValid() else None), None
        extent_crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        if not crs.isValid() and extent_crs.isValid():
            crs = QgsCoordinateReferenceSystem(extent_crs)
        rect = (self.parameterAsExtent(parameters, self.EXTENT, context, crs)
                if crs.isValid() else self.parameterAsExtent(parameters, self.EXTENT, context))
        extent = (rect.xMinimum(), rect.xMaximum(), rect.yMinimum(), rect.yMaximum())
        return (crs.toWkt() if crs.isValid() else None), extent


def _band_list(text: str) -> list[int] | None:
    """Band numbers from "1, 3,5" (None = all bands)."""
    if not text.strip():
        return None
    try:
        return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError as exc:
        raise QgsProcessingException(
            f"Bands must be band numbers separated by commas (e.g. 1,3), not '{text}'.") from exc


def _crs_value(crs: QgsCoordinateReferenceSystem, value) -> str | None:
    """WKT of a valid CRS parameter; else the value as the user wrote it, for the engine
    to refuse naming it (it once became EPSG:4326 silently), or None if none was given."""
    if crs.isValid():
        return crs.toWkt()
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)
