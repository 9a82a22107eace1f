"""SPACE clustering: kmeans, dbscan and hierarchical on planted blobs, per n.

Beside the time, a quality tracker (adjusted Rand index against the planted labels), so a
change that gets faster by getting wrong shows in the history too.
"""

from __future__ import annotations

import time

from . import common

# Parameters per algorithm, fixed so results stay comparable across commits.
PARAMS = {
    "kmeans": {"k": 8, "seed": 0},
    "dbscan": {"eps_m": 150.0, "min_samples": 10},
    "hierarchical": {"n_clusters": 8, "method": "ward"},
}


class Clustering:
    params = (list(PARAMS), list(common.CLUSTER_SIZES))
    param_names = ["algorithm", "n"]
    timeout = 300
    timer = time.process_time  # single-threaded
    # 1e5 points take up to a few seconds: few samples, but at least 3 for a median.
    repeat = (3, 7, 30.0)
    rounds = 2

    def setup(self, algorithm: str, n: int) -> None:
        from geoinfer_workflows.modules import space

        if not hasattr(space, "cluster"):
            raise NotImplementedError("space.cluster does not exist at this commit")
        self.cluster = space.cluster
        self.points, self.truth = common.planted_blobs(n)
        self.kwargs = dict(PARAMS[algorithm])
        if algorithm == "dbscan":
            # Keep min_samples proportional to density so every n has the same structure.
            self.kwargs["min_samples"] = max(5, int(10 * n / 10_000))
        self.algorithm = algorithm

    def run(self):
        return self.cluster(self.points, algorithm=self.algorithm, **self.kwargs)

    def time_cluster(self, algorithm: str, n: int) -> None:
        self.run()

    time_cluster.version = "2761477551a07afd056172e74b442fb33606186b42cd48ed16cdbd37d3b12e1e"

    def track_adjusted_rand(self, algorithm: str, n: int) -> float:
        """Agreement with the planted blobs (1 = perfect); noise points are scored as
        their own group, so dbscan gets credit for leaving them unclustered."""
        result = self.run()
        planted = self.truth >= 0
        if algorithm == "dbscan":
            return common.adjusted_rand_index(self.truth, result.labels)
        return common.adjusted_rand_index(self.truth[planted], result.labels[planted])

    track_adjusted_rand.version = "b08bd6a4fdf1e35cd2914dbcb983b9208440621616e4741676f1b8960fdd764e"

    track_adjusted_rand.unit = "ARI"

    def track_clusters_found(self, algorithm: str, n: int) -> float:
        return float(self.run().n_clusters)

    track_clusters_found.version = (
        "4c3669535f649d8a7e10b34962682ed56c4c79797ea39ee731d348dad22474aa"
    )

    track_clusters_found.unit = "clusters"
