"""SPACE: distances, cells, clustering and interpolation for points on the sphere.

Coordinates are degrees (lat, lon). Anything that needs a metric works on the sphere
directly (haversine, or chord distances between unit vectors in a KD-tree, which order
points exactly as great-circle distance does) unless a docstring says it projects.
Hot paths are vectorised numpy/scipy; the only per-point Python calls left are into the
`h3` library, which has no array entry point (see `h3_cells`).

Import from here (``from geoinfer_workflows.modules import space``; ``space.kmeans``):
this package is the public path, also for benchmarks run against commits from before the
split. One private module per topic, named with a leading underscore as scikit-learn's
``cluster`` package does, so that no module shadows the function of its name (``kmeans``)
or a library (``h3``):

- ``_geometry``: `haversine_m`, `unit_xyz`, `local_xy_m`, chord <-> metres, coordinate checks
- ``_cells``: `h3_cells`, `h3_cell_centers`, `h3_cell_spacing_m` (de-duplicated h3 calls)
- ``_kmeans``: `kmeans`, `kmeans_plusplus`, `lloyd`, `nearest_center`
- ``_dbscan``: `dbscan` (and the first-appearance relabelling the clusterings share)
- ``_hierarchical``: `hierarchical` (exact linkage, or micro-clusters then weighted Ward)
- ``_clustering``: `cluster`, the single entry over the three algorithms
- ``_interpolate``: `grid_points`, `idw`

Parameters are checked by `geoinfer_workflows.validation` (numpy integers are integers,
bools and floats are not).
"""

from geoinfer_workflows.modules.space._cells import h3_cell_centers, h3_cell_spacing_m, h3_cells
from geoinfer_workflows.modules.space._clustering import ClusterResult, cluster
from geoinfer_workflows.modules.space._dbscan import dbscan
from geoinfer_workflows.modules.space._geometry import (
    EARTH_RADIUS_M,
    haversine_m,
    local_xy_m,
    unit_xyz,
)
from geoinfer_workflows.modules.space._hierarchical import hierarchical
from geoinfer_workflows.modules.space._interpolate import grid_points, idw
from geoinfer_workflows.modules.space._kmeans import (
    KMeansResult,
    kmeans,
    kmeans_plusplus,
    lloyd,
    nearest_center,
)

# The result types keep the public path as their home, so their repr in docs and pickles
# made by one layout load in the other.
ClusterResult.__module__ = KMeansResult.__module__ = __name__

__all__ = [
    "EARTH_RADIUS_M",
    "ClusterResult",
    "KMeansResult",
    "cluster",
    "dbscan",
    "grid_points",
    "h3_cell_centers",
    "h3_cell_spacing_m",
    "h3_cells",
    "haversine_m",
    "hierarchical",
    "idw",
    "kmeans",
    "kmeans_plusplus",
    "lloyd",
    "local_xy_m",
    "nearest_center",
    "unit_xyz",
]
