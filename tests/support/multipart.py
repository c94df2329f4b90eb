"""Build upload requests the way twine does (multipart/form-data with a `content` file part)."""

from __future__ import annotations

import hashlib

from urllib3 import encode_multipart_formdata


def upload_fields(name: str, version: str, filename: str, data: bytes, /, **overrides: str | None) -> list:
    """twine's fields for ``data``; an override of None drops the field."""
    filetype = "bdist_wheel" if filename.endswith(".whl") else "sdist"
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "filetype": filetype,
        "pyversion": "py3" if filetype == "bdist_wheel" else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }
    fields.update(overrides)
    items = [(k, v) for k, v in fields.items() if v is not None]
    items.append(("content", (filename, data, "application/octet-stream")))
    return items


def encode(items: list) -> tuple[bytes, str]:
    body, content_type = encode_multipart_formdata(items)
    return body, content_type
