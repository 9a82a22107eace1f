"""Seeded synthetic data for the four workflows, at named sizes (`seed`, `standard`, `large`)."""

from geoinfer_workflows.data.climate import ClimateData, generate_climate
from geoinfer_workflows.data.disease import DiseaseData, generate_disease_cases
from geoinfer_workflows.data.farming import FarmData, generate_farm
from geoinfer_workflows.data.observations import (
    Observations,
    generate_observations,
    observations_of_length,
)
from geoinfer_workflows.data.sizes import SIZES, Size, check_size

__all__ = [
    "SIZES",
    "ClimateData",
    "DiseaseData",
    "FarmData",
    "Observations",
    "Size",
    "check_size",
    "generate_climate",
    "generate_disease_cases",
    "generate_farm",
    "generate_observations",
    "observations_of_length",
]
