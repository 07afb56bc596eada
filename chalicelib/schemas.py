"""Request and response models: the API contract and the source of openapi.json.

Every string and list has a bound (DynamoDB items are limited to 400 KB), and
unknown fields are rejected so a typo is never silently ignored. Schemas build
lazily (`defer_build`) so cold starts do not pay for routes they do not serve.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _text(value: str) -> str:
    if _CONTROL_EXCEPT_WHITESPACE.search(value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_single_line)]
ShortText = Annotated[str, Field(max_length=2000), AfterValidator(_text)]
LongText = Annotated[str, Field(max_length=8000), AfterValidator(_text)]
Prompt = Annotated[str, Field(max_length=10000), AfterValidator(_text)]
Tag = Annotated[str, Field(min_length=1, max_length=50), AfterValidator(_single_line)]
TagList = Annotated[list[Tag], Field(max_length=20)]
SortOrder = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
Version = Annotated[int, Field(ge=1, le=1_000_000)]
Cursor = Annotated[str, Field(min_length=1, max_length=2048)]
Uuid = Annotated[
    str,
    Field(
        max_length=36,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ),
    # Ids are stored lower-case; a body id is canonicalised like a path id.
    AfterValidator(str.lower),
]


class Category(StrEnum):
    CHARACTERS = "CHARACTERS"
    ENVIRONMENT = "ENVIRONMENT"
    FULL_PRODUCTION = "FULL_PRODUCTION"
    STYLE_KIT = "STYLE_KIT"
    BRAND_KIT = "BRAND_KIT"
    CUSTOM = "CUSTOM"


class ManifestStatus(StrEnum):
    DRAFT = "DRAFT"
    PROCESSING = "PROCESSING"
    READY = "READY"
    ERROR = "ERROR"


class AssetType(StrEnum):
    CHARACTER = "CHARACTER"
    OBJECT = "OBJECT"
    ENVIRONMENT = "ENVIRONMENT"
    PROP = "PROP"
    STYLE = "STYLE"
    VEHICLE = "VEHICLE"
    OTHER = "OTHER"


class AssetSource(StrEnum):
    """How an asset came to be: through the API (uploaded) or by the pipeline."""

    UPLOADED = "uploaded"
    DETECTED = "detected"
    EXTRACTED = "extracted"


TAG_PREFIXES: dict[str, str] = {
    "CHARACTER": "CHAR",
    "OBJECT": "OBJ",
    "ENVIRONMENT": "ENV",
    "PROP": "PROP",
    "STYLE": "STYLE",
    "VEHICLE": "VEH",
    "OTHER": "OTHER",
}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True, str_strip_whitespace=True)


class _Output(BaseModel):
    model_config = ConfigDict(defer_build=True)


def _not_null(value: Any) -> Any:
    """PUT bodies may omit a field, but only some fields may be cleared with null."""
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


# --- manifests -------------------------------------------------------------------


class ManifestCreate(_Input):
    name: Name
    description: ShortText | None = None
    category: Category = Category.CUSTOM
    tags: TagList = Field(default_factory=list)


class ManifestUpdate(_Input):
    name: Name | None = None
    description: ShortText | None = None
    category: Category | None = None
    tags: TagList | None = None

    _no_null = field_validator("name", "category", "tags", mode="before")(_not_null)


SortBy = Literal["updated_at", "created_at", "name", "times_used", "asset_count"]
SortOrderParam = Literal["asc", "desc"]


class ManifestListQuery(_Input):
    category: Category | None = None
    status: ManifestStatus | None = None
    sort_by: SortBy = "updated_at"
    sort_order: SortOrderParam = "desc"
    limit: Annotated[int, Field(ge=1, le=200)] | None = Field(
        None,
        description=(
            "Page size (1-200). Without it the whole library is answered, up to "
            "LIBRARY_CAP (default 1000) manifests; beyond that, X-Next-Cursor and Link lead on."
        ),
    )
    cursor: Cursor | None = None


class DuplicateQuery(_Input):
    name: Name | None = None
    version: Annotated[Version | None, Field(description="Copy this frozen version, not the working one")] = (
        None
    )


class ManifestListItem(_Output):
    manifest_id: str
    name: str
    description: str | None
    thumbnail_url: str | None
    category: Category
    tags: list[str]
    status: ManifestStatus
    asset_count: int
    times_used: int
    last_used_at: str | None
    version: int
    created_at: str
    updated_at: str
    revision: int = Field(description="Edit counter; the ETag is its quoted value")


class AssetResponse(_Output):
    asset_id: str
    manifest_id: str
    asset_type: AssetType
    name: str
    manifest_tag: str
    user_tags: list[str]
    reference_image_url: str | None
    thumbnail_url: str | None
    description: str | None
    source: AssetSource
    sort_order: int
    created_at: str
    updated_at: str
    reverse_prompt: str | None
    visual_description: str | None
    quality_score: float | None
    detection_class: str | None
    detection_confidence: float | None
    is_face_crop: bool
    revision: int = Field(description="Edit counter; the ETag is its quoted value")


class ProcessingProgress(_Output):
    uploads_total: int
    uploads_processed: int
    crops_total: int
    crops_reverse_prompted: int
    face_merges_completed: int
    current_step: str | None


class ManifestDetail(ManifestListItem):
    processing_progress: ProcessingProgress | None
    contact_sheet_url: str | None
    total_processing_cost: float = 0.0
    parent_manifest_id: str | None
    source_video_duration: float | None
    assets: list[AssetResponse]


class ManifestDeleted(_Output):
    status: Literal["deleted"] = "deleted"
    manifest_id: str


# --- assets ----------------------------------------------------------------------


class AssetCreate(_Input):
    name: Name
    asset_type: AssetType
    description: ShortText | None = None
    user_tags: TagList = Field(default_factory=list)


class AssetUpdate(_Input):
    name: Name | None = None
    description: ShortText | None = None
    asset_type: AssetType | None = None
    user_tags: TagList | None = None
    sort_order: SortOrder | None = None
    reverse_prompt: LongText | None = None
    visual_description: LongText | None = None

    _no_null = field_validator("name", "asset_type", "user_tags", "sort_order", mode="before")(_not_null)


class ImageQuery(_Input):
    variant: Literal["original", "thumbnail"] = "original"


class ImageRedirect(_Output):
    url: str = Field(description="The signed URL, also in Location (valid IMAGE_URL_TTL_SECONDS)")


class AssetDeleted(_Output):
    status: Literal["deleted"] = "deleted"
    asset_id: str


# --- projects --------------------------------------------------------------------


class ProjectCreate(_Input):
    title: Name | None = None
    prompt: Prompt | None = None
    manifest_id: Uuid | None = None
    manifest_version: Version | None = None


class ProjectUpdate(_Input):
    title: Name | None = None
    prompt: Prompt | None = None
    manifest_id: Uuid | None = None
    manifest_version: Version | None = None


class ProjectListQuery(_Input):
    sort_by: Literal["updated_at", "created_at"] = "updated_at"
    sort_order: SortOrderParam = "desc"
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class PageQuery(_Input):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class ProjectResponse(_Output):
    project_id: str
    title: str | None
    prompt: str | None
    manifest_id: str | None
    manifest_version: int | None
    created_at: str
    updated_at: str
    revision: int = Field(description="Edit counter; the ETag is its quoted value")


class ProjectDeleted(_Output):
    status: Literal["deleted"] = "deleted"
    project_id: str


# --- uploads ---------------------------------------------------------------------


class UploadUrlRequest(_Input):
    content_type: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            description="image/png, image/jpeg or image/webp (anything else: 415)",
            examples=["image/png", "image/jpeg", "image/webp"],
        ),
    ]
    # The upper limit (10 MiB) is answered with 413 by the service, not 422 here.
    size: Annotated[int, Field(gt=0, le=2**53)]
    filename: Annotated[str, Field(max_length=255)] | None = None


class UploadTicket(_Output):
    upload_id: str
    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: str


class UploadComplete(_Input):
    upload_id: Uuid


# --- misc ------------------------------------------------------------------------


class Health(_Output):
    status: str


class FieldError(_Output):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(_Output):
    detail: str
    errors: list[FieldError] | None = None


# --- versions ----------------------------------------------------------------------


class VersionSummary(_Output):
    manifest_id: str
    version: int
    name: str
    asset_count: int
    created_at: str = Field(description="When the version was frozen")
    pinned_by: int = Field(description="Live projects pinning this version")


class VersionListQuery(_Input):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None


VersionRef = Annotated[str, Field(max_length=9, pattern=r"^([1-9][0-9]{0,8}|current)$")]


class DiffQuery(_Input):
    from_: Annotated[VersionRef, Field(alias="from", description="A frozen version, or `current`")]
    to: Annotated[VersionRef, Field(description="A frozen version, or `current`")]

    model_config = ConfigDict(extra="forbid", defer_build=True, populate_by_name=False)


class FieldChange(_Output):
    from_: Any = Field(alias="from")
    to: Any

    model_config = ConfigDict(defer_build=True, serialize_by_alias=True)


class AssetChange(_Output):
    manifest_tag: str
    asset_id: str
    changes: dict[str, FieldChange]


class VersionDiff(_Output):
    from_: str = Field(alias="from")
    to: str
    manifest_changes: dict[str, FieldChange]
    added: list[AssetResponse]
    removed: list[AssetResponse]
    changed: list[AssetChange]

    model_config = ConfigDict(defer_build=True, serialize_by_alias=True)
