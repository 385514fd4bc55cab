"""A local stand-in for the Azure ML v1 REST service and the `az` CLI, so that the real
azureml-core and azure-identity code runs in tests without reaching Azure."""

from .fake_az import SUBSCRIPTION, FakeAz, jwt_claims, make_jwt
from .service import AmlStandin, Fault, StandinError
from .state import Dataset, DatasetVersion, Datastore, Experiment, ModelVersion, Run, Workspace

__all__ = [
    "SUBSCRIPTION",
    "AmlStandin",
    "Dataset",
    "DatasetVersion",
    "Datastore",
    "Experiment",
    "FakeAz",
    "Fault",
    "ModelVersion",
    "Run",
    "StandinError",
    "Workspace",
    "jwt_claims",
    "make_jwt",
]
