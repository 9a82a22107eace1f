"""One exception hierarchy, so callers can catch everything the package raises on purpose."""


class GeoInferError(Exception):
    """Base class: every deliberate error of geoinfer_workflows derives from it."""


class IngestError(GeoInferError):
    """The input as a whole cannot be read (not CSV, wrong header, empty, bad encoding).

    Row-level problems never raise: those rows are quarantined with a reason instead.
    """


class ParameterError(GeoInferError, ValueError):
    """An analysis was called with parameters that cannot give a meaningful answer."""


class UnknownWorkflowError(GeoInferError, KeyError):
    """A workflow name that is not in the registry."""
