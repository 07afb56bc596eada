"""Project use cases: a project may reference one of its owner's live manifests,
pinned at a version no newer than the manifest's current one."""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib import cursors
from chalicelib.errors import (
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    ValidationFailedError,
)
from chalicelib.models import ProjectModel
from chalicelib.repositories.base import ConditionFailed, utcnow
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.projects import ProjectRepository
from chalicelib.schemas import PageQuery, ProjectCreate, ProjectListQuery, ProjectUpdate
from chalicelib.services.versions import VersionService, version_error

RACE_ATTEMPTS = 5


def _needs_manifest_error() -> ValidationFailedError:
    return ValidationFailedError(
        "manifest_version needs a manifest_id",
        [{"loc": ["body", "manifest_version"], "msg": "Requires manifest_id", "type": "missing"}],
    )


class ProjectService:
    def __init__(
        self, manifests: ManifestRepository, projects: ProjectRepository, versions: VersionService
    ) -> None:
        self._manifests = manifests
        self._projects = projects
        self._versions = versions

    def _resolve_version(self, owner_id: str, manifest_id: str, version: int | None) -> int:
        """A pin means a frozen version: the working one is frozen first (see
        `VersionService.version_to_pin`); a version neither frozen nor working is 422."""
        return self._versions.version_to_pin(owner_id, manifest_id, version)

    def _explain_attach_failure(self, owner_id: str, manifest_id: str, version: int) -> None:
        """A transaction condition failed (manifest or version item): 404 or 422."""
        manifest = self._manifests.get_live(owner_id, manifest_id)
        raise version_error(version, int(manifest.version))

    def create(self, owner_id: str, data: ProjectCreate) -> ProjectModel:
        if data.manifest_version is not None and not data.manifest_id:
            raise _needs_manifest_error()
        version = None
        if data.manifest_id:
            version = self._resolve_version(owner_id, data.manifest_id, data.manifest_version)
        now = utcnow()
        project_id = str(uuid.uuid4())
        project = ProjectModel(
            owner_id,
            project_id,
            title=data.title,
            prompt=data.prompt,
            manifest_id=data.manifest_id,
            manifest_version=version,
            created_at=now,
            updated_at=now,
            revision=1,
            s_upd=f"{now}#{project_id}",
            s_crt=f"{now}#{project_id}",
        )
        try:
            self._projects.create(project, now)
        except ConditionFailed as exc:
            # Not stored (the repository ruled out its own committed write): the
            # manifest's condition failed. Say why, from the manifest as it is now.
            if data.manifest_id and version is not None:
                self._explain_attach_failure(owner_id, data.manifest_id, version)
            raise ConflictError("The manifest is being changed concurrently; retry") from exc
        return project

    def get(self, owner_id: str, project_id: str) -> ProjectModel:
        project = self._projects.get(owner_id, project_id)
        if project is None:
            raise NotFoundError("Project not found")
        return project

    def update(
        self, owner_id: str, project_id: str, data: ProjectUpdate, expected_revision: int | None = None
    ) -> ProjectModel:
        for _attempt in range(RACE_ATTEMPTS):
            before = self.get(owner_id, project_id)
            if expected_revision is not None and before.revision != expected_revision:
                raise PreconditionFailedError("The project has changed", revision=before.revision)
            changes: dict[str, Any] = {f: getattr(data, f) for f in data.model_fields_set}
            target = changes.get("manifest_id", before.manifest_id)
            if not target:
                if changes.get("manifest_version") is not None:
                    raise ValidationFailedError(
                        "manifest_version needs a manifest_id",
                        [
                            {
                                "loc": ["body", "manifest_version"],
                                "msg": "Requires manifest_id",
                                "type": "missing",
                            }
                        ],
                    )
                changes["manifest_version"] = None
            elif target != before.manifest_id or "manifest_version" in changes:
                version = self._resolve_version(owner_id, target, changes.get("manifest_version"))
                changes["manifest_version"] = version
            now = utcnow()
            try:
                return self._projects.save_changes(before, changes, now)
            except ConditionFailed:
                continue  # the project or a manifest changed under us: re-read and retry
        raise ConflictError("The project is being changed concurrently; retry")

    def delete(self, owner_id: str, project_id: str, expected_revision: int | None = None) -> None:
        for _attempt in range(RACE_ATTEMPTS):
            before = self.get(owner_id, project_id)
            if expected_revision is not None and before.revision != expected_revision:
                raise PreconditionFailedError("The project has changed", revision=before.revision)
            try:
                self._projects.delete(before)
                return
            except ConditionFailed:
                continue
        raise ConflictError("The project is being changed concurrently; retry")

    def list_page(self, owner_id: str, query: ProjectListQuery) -> tuple[list[ProjectModel], str | None]:
        scope = f"projects|{query.sort_by}|{query.sort_order}"
        start = cursors.decode(query.cursor, owner_id, scope) if query.cursor else None
        items, next_key = self._projects.page(
            owner_id,
            sort_by=query.sort_by,
            ascending=query.sort_order == "asc",
            limit=query.limit,
            start_key=start,
        )
        return items, cursors.encode(next_key, owner_id, scope) if next_key else None

    def list_for_manifest(
        self, owner_id: str, manifest_id: str, query: PageQuery
    ) -> tuple[list[ProjectModel], str | None]:
        self._manifests.get_live(owner_id, manifest_id)
        scope = f"manifest-projects|{manifest_id}"
        start = cursors.decode(query.cursor, owner_id, scope) if query.cursor else None
        items, next_key = self._projects.page_for_manifest(
            owner_id, manifest_id, limit=query.limit, start_key=start
        )
        return items, cursors.encode(next_key, owner_id, scope) if next_key else None
