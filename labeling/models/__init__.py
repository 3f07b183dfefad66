"""Labeling models, one module per domain; re-exported here explicitly."""

from labeling.models.annotations import Annotation
from labeling.models.collection import CollectionCandidate, CollectionQuery, CollectionRun, Contribution
from labeling.models.curation import CurationAction, GoldItem
from labeling.models.datasets import DatasetExport, DatasetVersion, DatasetVersionItem, DatasetVersionVote, ProjectClass
from labeling.models.images import Image, ImageSource
from labeling.models.ingest import IngestBatch, IngestEntry
from labeling.models.items import Item, Lease, Skip
from labeling.models.live import AnnotatorAppeal, AnnotatorLiveStats
from labeling.models.opinions import ModelOpinion
from labeling.models.projects import Category, Project
from labeling.models.quality import (
    AnnotatorScore,
    AnnotatorStatusChange,
    CategoryCalibration,
    ProjectQualitySnapshot,
    ReviewAction,
)
from labeling.models.volunteers import VolunteerProfile
from labeling.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "Annotation",
    "AnnotatorAppeal",
    "AnnotatorLiveStats",
    "AnnotatorScore",
    "AnnotatorStatusChange",
    "Category",
    "CategoryCalibration",
    "CollectionCandidate",
    "CollectionQuery",
    "CollectionRun",
    "Contribution",
    "CurationAction",
    "DatasetExport",
    "DatasetVersion",
    "DatasetVersionItem",
    "DatasetVersionVote",
    "GoldItem",
    "Image",
    "ImageSource",
    "IngestBatch",
    "IngestEntry",
    "Item",
    "Lease",
    "ModelOpinion",
    "Project",
    "ProjectClass",
    "ProjectQualitySnapshot",
    "ReviewAction",
    "Skip",
    "VolunteerProfile",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
