"""Service objects, created on first use and shared by the process (as Lambda reuses it)."""

from __future__ import annotations

import functools
from typing import NamedTuple

from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.projects import ProjectRepository
from chalicelib.repositories.uploads import ImageRefRepository, UploadRepository
from chalicelib.repositories.versions import VersionRepository
from chalicelib.services.assets import AssetService
from chalicelib.services.images import ImageLifecycle
from chalicelib.services.manifests import ManifestService
from chalicelib.services.projects import ProjectService
from chalicelib.services.uploads import UploadService
from chalicelib.services.versions import VersionService
from chalicelib.storage import storage


class _Repositories(NamedTuple):
    manifests: ManifestRepository
    assets: AssetRepository
    projects: ProjectRepository
    uploads: UploadRepository
    images: ImageLifecycle
    versions: VersionRepository


@functools.cache
def _repositories() -> _Repositories:
    manifests = ManifestRepository()
    assets = AssetRepository(manifests)
    lifecycle = ImageLifecycle(manifests, assets, ImageRefRepository(), storage())
    versions = VersionRepository()
    return _Repositories(
        manifests,
        assets,
        ProjectRepository(manifests, versions),
        UploadRepository(),
        lifecycle,
        versions,
    )


def manifests() -> ManifestService:
    r = _repositories()
    return ManifestService(r.manifests, r.assets, r.projects, r.images, versions())


def assets() -> AssetService:
    r = _repositories()
    return AssetService(r.manifests, r.assets, r.images, ImageRefRepository())


def versions() -> VersionService:
    r = _repositories()
    return VersionService(
        r.manifests, r.assets, r.versions, r.projects, r.images, ImageRefRepository(), storage()
    )


def projects() -> ProjectService:
    r = _repositories()
    return ProjectService(r.manifests, r.projects, versions())


def uploads() -> UploadService:
    r = _repositories()
    return UploadService(assets(), r.assets, r.uploads, r.images, storage())


def images() -> ImageLifecycle:
    return _repositories().images
