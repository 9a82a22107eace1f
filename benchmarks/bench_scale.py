"""The stress scale: one million points binned to H3 cells and clustered with kmeans, the
scale the reference guide's stress test names (1M records). Seconds, not minutes."""

from __future__ import annotations

import time

from . import common

N_POINTS = 1_000_000


class MillionPoints:
    timeout = 600
    timer = time.process_time  # single-threaded
    # A sample takes a few seconds: 3 samples in one round give a median without
    # dominating the suite's run time.
    rounds = 1
    repeat = (2, 3, 60.0)
    number = 1

    def setup(self) -> None:
        from geoinfer_workflows.modules import space

        self.space = space
        self.points, _ = common.planted_blobs(N_POINTS)

    def time_h3_cells(self) -> None:
        self.space.h3_cells(self.points[:, 0], self.points[:, 1], 9)

    def time_kmeans(self) -> None:
        self.space.cluster(self.points, algorithm="kmeans", k=8, seed=0)
