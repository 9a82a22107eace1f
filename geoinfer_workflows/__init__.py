from geoinfer_workflows.errors import GeoInferError, IngestError, ParameterError
