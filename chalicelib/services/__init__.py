"""Service objects, created on first use and shared by the process (as Lambda reuses it)."""

from __future__ import annotations

import functools

from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.projects import ProjectRepository
from chalicelib.services.assets import AssetService
from chalicelib.services.manifests import ManifestService
from chalicelib.services.projects import ProjectService


@functools.cache
def _repositories() -> tuple[ManifestRepository, AssetRepository, ProjectRepository]:
    manifests = ManifestRepository()
    return manifests, AssetRepository(manifests), ProjectRepository(manifests)


def manifests() -> ManifestService:
    m, a, p = _repositories()
    return ManifestService(m, a, p)


def assets() -> AssetService:
    m, a, _ = _repositories()
    return AssetService(m, a)


def projects() -> ProjectService:
    m, _, p = _repositories()
    return ProjectService(m, p)
