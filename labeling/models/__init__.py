"""Labeling models, one module per domain; re-exported here explicitly."""

from labeling.models.annotations import Annotation
from labeling.models.images import Image, ImageSource
from labeling.models.ingest import IngestBatch, IngestEntry
from labeling.models.items import Item, Lease, Skip
from labeling.models.projects import Category, Project

__all__ = [
    "Annotation",
    "Category",
    "Image",
    "ImageSource",
    "IngestBatch",
    "IngestEntry",
    "Item",
    "Lease",
    "Project",
    "Skip",
]
