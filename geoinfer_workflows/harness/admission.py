"""Admission control: at most `max_in_flight` operations run, at most `max_queued` wait,
and the rest are shed at once with `Overloaded`, counted.

Without it, 200 users on a 2-core box all run at once: every one of them gets slower
(and under a memory limit, every one of them allocates, until an allocation fails or the
kernel kills the process). With it, the system degrades by saying "not now" to a bounded
share of requests, and what it admits still gets a bounded response time. Shed requests
are an outcome of their own ("rejected"), neither a success nor a failure.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType

from geoinfer_workflows.errors import GeoInferError
from geoinfer_workflows.validation import check_int

__all__ = ["AdmissionGate", "Overloaded"]


class Overloaded(GeoInferError):
    """A request shed by admission control: every slot busy and the queue full."""


class _Ticket:
    """A place in the queue; entering it waits for a slot, leaving it frees the slot.

    First come, first served: a ticket starts only at the head of the queue. (Without
    the order, the user whose operation just ended takes a new ticket and the slot it
    freed before the woken waiter does, again and again: the queue starves.)
    """

    __slots__ = ("_gate",)

    def __init__(self, gate: AdmissionGate) -> None:
        self._gate = gate

    def __enter__(self) -> None:
        gate = self._gate
        with gate._changed:
            while gate.running >= gate.max_in_flight or gate._queue[0] is not self:
                gate._changed.wait()
            gate._queue.popleft()
            gate.waiting -= 1
            gate.running += 1
            gate._changed.notify_all()  # the next in line may start too

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        gate = self._gate
        with gate._changed:
            gate.running -= 1
            gate._changed.notify_all()


class AdmissionGate:
    """A bounded queue in front of an operation.

    ``with gate.enter():`` takes a place in the queue (or raises `Overloaded` at once when
    `max_in_flight` run and `max_queued` wait already), waits for a slot, runs the block.
    The counters are for reports: `admitted`, `rejected`, and `running` / `waiting` now.

    Examples
    --------
    >>> gate = AdmissionGate(max_in_flight=1, max_queued=0)
    >>> with gate.enter():
    ...     try:
    ...         gate.enter()
    ...     except Overloaded as exc:
    ...         print(exc)
    shed: 1 running, 0 waiting (max 1 + 0)
    >>> gate.admitted, gate.rejected
    (1, 1)
    """

    def __init__(self, max_in_flight: int, max_queued: int) -> None:
        self.max_in_flight = check_int(max_in_flight, "max_in_flight", 1)
        self.max_queued = check_int(max_queued, "max_queued", 0)
        self._changed = threading.Condition()
        self._queue: deque[_Ticket] = deque()
        self.running = 0
        self.waiting = 0
        self.admitted = 0
        self.rejected = 0

    def enter(self) -> _Ticket:
        """A queue place for one operation, or `Overloaded` if there is none (counted)."""
        with self._changed:
            if self.running + self.waiting >= self.max_in_flight + self.max_queued:
                self.rejected += 1
                raise Overloaded(
                    f"shed: {self.running} running, {self.waiting} waiting "
                    f"(max {self.max_in_flight} + {self.max_queued})"
                )
            ticket = _Ticket(self)
            self._queue.append(ticket)
            self.waiting += 1
            self.admitted += 1
        return ticket
