from __future__ import annotations

from chalice import Blueprint

from chalicelib import presenters, services
from chalicelib.http import Page, api_route
from chalicelib.schemas import (
    PageQuery,
    ProjectCreate,
    ProjectDeleted,
    ProjectListQuery,
    ProjectResponse,
    ProjectUpdate,
)

bp = Blueprint(__name__)


@api_route(
    bp,
    "/projects",
    "POST",
    summary="Create a project",
    body=ProjectCreate,
    response=ProjectResponse,
    status=201,
    errors=(404,),
    idempotent=True,
)
def create_project(owner: str, body: ProjectCreate) -> ProjectResponse:
    return presenters.project_item(services.projects().create(owner, body))


@api_route(
    bp,
    "/projects",
    "GET",
    summary="List projects",
    query=ProjectListQuery,
    response=list[ProjectResponse],
    errors=(400,),
)
def list_projects(owner: str, query: ProjectListQuery) -> Page:
    items, cursor = services.projects().list_page(owner, query)
    return Page([presenters.project_item(p) for p in items], cursor)


@api_route(
    bp, "/projects/{project_id}", "GET", summary="Get a project", response=ProjectResponse, errors=(404,)
)
def get_project(owner: str, project_id: str) -> ProjectResponse:
    return presenters.project_item(services.projects().get(owner, project_id))


@api_route(
    bp,
    "/projects/{project_id}",
    "PUT",
    summary="Update a project",
    body=ProjectUpdate,
    response=ProjectResponse,
    errors=(404, 409),  # 409: changed concurrently, retry
    if_match=True,
)
def update_project(
    owner: str, project_id: str, body: ProjectUpdate, expected_revision: int | None
) -> ProjectResponse:
    return presenters.project_item(services.projects().update(owner, project_id, body, expected_revision))


@api_route(
    bp,
    "/projects/{project_id}",
    "DELETE",
    summary="Delete a project",
    response=ProjectDeleted,
    errors=(404, 409),  # 409: changed concurrently, retry
    if_match=True,
)
def delete_project(owner: str, project_id: str, expected_revision: int | None) -> ProjectDeleted:
    services.projects().delete(owner, project_id, expected_revision)
    return ProjectDeleted(project_id=project_id)


@api_route(
    bp,
    "/manifests/{manifest_id}/projects",
    "GET",
    summary="List the projects that reference a manifest",
    query=PageQuery,
    response=list[ProjectResponse],
    errors=(400, 404),
)
def list_manifest_projects(owner: str, manifest_id: str, query: PageQuery) -> Page:
    items, cursor = services.projects().list_for_manifest(owner, manifest_id, query)
    return Page([presenters.project_item(p) for p in items], cursor)
