"""Seeded synthetic data for the four workflows, at named sizes (`seed`, `standard`, `large`)."""

from geoinfer_workflows.synthetic.climate import ClimateData, generate_climate
from geoinfer_workflows.synthetic.disease import DiseaseData, generate_disease_cases
from geoinfer_workflows.synthetic.farming import FarmData, generate_farm
from geoinfer_workflows.synthetic.observations import (
    Observations,
    generate_observations,
    observation_partition,
    observations_of_length,
)
from geoinfer_workflows.synthetic.sizes import SIZES, Size, check_size

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
    "observation_partition",
    "observations_of_length",
]
