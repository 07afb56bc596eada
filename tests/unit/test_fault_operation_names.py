"""The fault hook names S3 requests by the AWS operation they are, so a rule can
target CopyObject apart from PutObject, DeleteObjects apart from DeleteObject."""

from __future__ import annotations

import pytest
from faults import s3_operation

COPY = {"HTTP_X_AMZ_COPY_SOURCE": "/bucket/a.png"}


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("PUT", "/bucket/u/a.png", "", {}, "PutObject"),
        ("PUT", "/bucket/u/b.png", "", COPY, "CopyObject"),
        ("GET", "/bucket/u/a.png", "", {}, "GetObject"),
        ("HEAD", "/bucket/u/a.png", "", {}, "HeadObject"),
        ("DELETE", "/bucket/u/a.png", "", {}, "DeleteObject"),
        ("POST", "/bucket", "delete", {}, "DeleteObjects"),
        ("POST", "/bucket/u/a.png", "uploads", {}, "CreateMultipartUpload"),
        ("PUT", "/bucket/u/a.png", "partNumber=1&uploadId=x", {}, "UploadPart"),
        ("POST", "/bucket/u/a.png", "uploadId=x", {}, "CompleteMultipartUpload"),
        ("GET", "/bucket", "list-type=2&prefix=u", {}, "ListObjectsV2"),
        ("PUT", "/bucket", "cors", {}, "PutBucketCors"),
        ("PUT", "/bucket", "", {}, "CreateBucket"),
        ("HEAD", "/bucket", "", {}, "HeadBucket"),
        ("GET", "/", "", {}, "ListBuckets"),
    ],
)
def test_an_s3_request_is_named_by_its_operation(method, path, query, headers, operation):
    assert s3_operation(method, path, query, headers) == operation
