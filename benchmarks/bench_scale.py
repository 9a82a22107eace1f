"""The stress scale: one million points binned to H3 cells and clustered with kmeans, the
scale the GEO-INFER benchmarking guide's stress test names (1M records). Seconds, not minutes."""

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

    time_h3_cells.version = "05a026563a781286a83f6c1c4997984eca1ed66dfcfd818b7b56a22031b1f475"

    def time_kmeans(self) -> None:
        self.space.cluster(self.points, algorithm="kmeans", k=8, seed=0)

    time_kmeans.version = "29a15fc979862ff07d9521592af652bc2c3f2a654198fee5628bbf52224b76d8"
