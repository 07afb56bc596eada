"""Project persistence. Attaching a project to a manifest, or detaching it, is
one transaction with the manifest's reference count, so a manifest can never be
deleted while a live project references it."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.models import ProjectModel
from chalicelib.repositories.base import new_write_token, query_page, transact, translate_errors
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.versions import VersionRepository

P = ProjectModel


def _cursor_key(project: ProjectModel, sort_attr: str, extra: dict[str, Any]) -> dict[str, Any]:
    key = {
        "owner_id": {"S": project.owner_id},
        "project_id": {"S": project.project_id},
        sort_attr: {"S": getattr(project, sort_attr)},
    }
    key.update(extra)
    return key


@translate_errors
class ProjectRepository:
    def __init__(self, manifests: ManifestRepository, versions: VersionRepository) -> None:
        self._manifests = manifests
        self._versions = versions

    def get(self, owner_id: str, project_id: str) -> ProjectModel | None:
        try:
            return P.get(owner_id, project_id, consistent_read=True)
        except DoesNotExist:
            return None

    def create(self, project: ProjectModel, now: str) -> None:
        """Put the project and count its manifest reference, atomically. The
        project id is fresh, so finding it stored means this very write committed."""

        def build(tx: TransactWrite) -> None:
            tx.save(project, condition=P.project_id.does_not_exist())
            if project.manifest_id:
                version = int(project.manifest_version)
                self._manifests.tx_attach(tx, project.owner_id, project.manifest_id, version, now)
                self._versions.tx_pin(tx, project.manifest_id, version)

        transact(build, committed=lambda: self.get(project.owner_id, project.project_id) is not None)

    def save_changes(
        self,
        before: ProjectModel,
        changes: dict[str, Any],
        now: str,
    ) -> ProjectModel:
        """Write `changes` if the project is still at the revision `before` was read at.

        A change of manifest moves the reference (detach old, attach new) in the
        same transaction. Raises `ConditionFailed` on any lost race.
        """
        owner_id = before.owner_id
        old_mid = before.manifest_id
        new_mid = changes.get("manifest_id", old_mid)
        new_version = changes.get("manifest_version", before.manifest_version)
        actions: list[Action] = [
            P.updated_at.set(now),
            P.s_upd.set(f"{now}#{before.project_id}"),
            P.revision.add(1),
        ]
        for field, value in changes.items():
            attr = getattr(P, field)
            actions.append(attr.remove() if value is None else attr.set(value))
        token = new_write_token()
        actions.append(P.write_token.set(token))
        item = P(owner_id, before.project_id)

        old_pin = (old_mid, before.manifest_version)
        new_pin = (new_mid, new_version)

        def build(tx: TransactWrite) -> None:
            tx.update(item, actions=actions, condition=P.revision == before.revision)
            if new_mid != old_mid:
                if old_mid:
                    self._manifests.tx_detach(tx, owner_id, old_mid)
                if new_mid:
                    self._manifests.tx_attach(tx, owner_id, new_mid, int(new_version), now)
            # The pin moves with the reference: a version counts the projects pinning it.
            if new_pin != old_pin:
                if old_mid and before.manifest_version is not None:
                    self._versions.tx_unpin(tx, old_mid, int(before.manifest_version))
                if new_mid:
                    self._versions.tx_pin(tx, new_mid, int(new_version))

        def committed() -> bool:
            current = self.get(owner_id, before.project_id)
            return current is not None and current.write_token == token

        transact(build, token=token, committed=committed)
        # What the transaction wrote, without reading it back (the project may
        # already have been changed or deleted by someone else since).
        written = ProjectModel(**before.attribute_values)
        for field, value in changes.items():
            setattr(written, field, value)
        written.updated_at = now
        written.s_upd = f"{now}#{before.project_id}"
        written.revision = int(before.revision) + 1
        written.write_token = token
        return written

    def delete(self, before: ProjectModel) -> None:
        def build(tx: TransactWrite) -> None:
            tx.delete(P(before.owner_id, before.project_id), condition=P.revision == before.revision)
            if before.manifest_id:
                self._manifests.tx_detach(tx, before.owner_id, before.manifest_id)
                if before.manifest_version is not None:
                    self._versions.tx_unpin(tx, before.manifest_id, int(before.manifest_version))

        transact(build)

    def page(
        self,
        owner_id: str,
        *,
        sort_by: str,
        ascending: bool,
        limit: int,
        start_key: dict[str, Any] | None,
    ) -> tuple[list[ProjectModel], dict[str, Any] | None]:
        index = P.by_updated if sort_by == "updated_at" else P.by_created
        sort_attr = "s_upd" if sort_by == "updated_at" else "s_crt"
        entries, more = query_page(
            index.query,
            owner_id,
            limit=limit,
            start_key=start_key,
            scan_index_forward=ascending,
            consistent_read=True,
        )
        next_key = _cursor_key(entries[-1], sort_attr, {}) if more and entries else None
        # The LSIs project what a list item shows and are read consistently: the
        # entries are the page (one Query, limit+1 items read).
        return entries, next_key

    def page_for_manifest(
        self,
        owner_id: str,
        manifest_id: str,
        *,
        limit: int,
        start_key: dict[str, Any] | None,
    ) -> tuple[list[ProjectModel], dict[str, Any] | None]:
        """Projects referencing a manifest, from the GSI, re-checked on the base table."""
        keys, more = query_page(P.by_manifest.query, manifest_id, limit=limit, start_key=start_key)
        keys = [k for k in keys if k.owner_id == owner_id]
        next_key = (
            _cursor_key(keys[-1], "s_crt", {"manifest_id": {"S": manifest_id}}) if more and keys else None
        )
        return self._fetch(keys, lambda p: p.manifest_id == manifest_id), next_key

    def _fetch(self, keys: list[ProjectModel], keep: Any) -> list[ProjectModel]:
        if not keys:
            return []
        fetched = {
            p.project_id: p
            for p in P.batch_get([(k.owner_id, k.project_id) for k in keys], consistent_read=True)
        }
        return [
            fetched[k.project_id] for k in keys if k.project_id in fetched and keep(fetched[k.project_id])
        ]
