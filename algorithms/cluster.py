"""The Dask parameters every algorithm that can run on a cluster shares: the scheduler
address and whether Coreg sends its engine to the workers."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterString

from ..core.stack.execution import DASK_CONNECT_TIMEOUT

DASK_SCHEDULER, SHIP_ENGINE = "DASK_SCHEDULER", "SHIP_ENGINE"
#: What every help text says about a cluster (the algorithm says what runs there).
CLUSTER_HELP = ("On a cluster the workers read the inputs themselves: use paths every "
                "worker sees (a shared file system); Coreg sends its engine to the workers "
                "and checks them before any work. Dask exchanges pickled code: a scheduler "
                "can run any code inside QGIS. Connect only to a cluster you trust.")


def add_dask_parameters(algorithm, empty: str = "this process") -> None:
    """DASK_SCHEDULER and SHIP_ENGINE under the Advanced parameters of ``algorithm`` (a
    CoregAlgorithm); ``empty``: where the work runs without an address."""
    dask = QgsProcessingParameterString(
        DASK_SCHEDULER, algorithm.tr("Dask scheduler address (e.g. tcp://host:8786; only "
                                     "a cluster you trust)"), optional=True)
    dask.setHelp(algorithm.tr(
        "Address of a Dask distributed scheduler, tcp://host:port or tls://host:port; "
        "empty: {}. Dask exchanges pickled code, so the scheduler and its workers can run "
        "any code inside QGIS: connect only to a cluster you trust. A scheduler that does "
        "not answer within {} s stops the run.").format(empty, DASK_CONNECT_TIMEOUT))
    ship = QgsProcessingParameterBoolean(
        SHIP_ENGINE, algorithm.tr("Send Coreg's engine to the Dask workers (untick: they "
                                  "have the same version installed)"), True, optional=True)
    for param in (dask, ship):
        algorithm.add_advanced_parameter(param)


def dask_options(algorithm, parameters, context) -> dict:
    """``dask_scheduler`` (None if empty) and ``ship_engine`` for the engine function."""
    return {"dask_scheduler": algorithm.parameterAsString(parameters, DASK_SCHEDULER, context)
            or None,
            "ship_engine": algorithm.parameterAsBoolean(parameters, SHIP_ENGINE, context)}
