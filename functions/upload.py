"""The legacy upload API (what twine, ``uv publish`` and ``poetry publish`` speak).

Served at ``/{feed}/upload/`` and, so one URL serves installers and publishers, on ``POST
/{feed}/simple/``. Never answers with a redirect: no publisher follows one.
"""

from __future__ import annotations

import azure.functions as func

from functions.http import FeedAccess, feed_access, text_errors
from shared import auth, packages, publishing, settings
from shared.auth import Permission
from shared.errors import BadRequest, Forbidden
from shared.upload import UPLOADS, UploadFile, file_too_large, validate_upload

bp = func.Blueprint()

# Room for the form fields (metadata, description) around the file itself.
_FORM_OVERHEAD_BYTES = 1024 * 1024


@bp.route(route="{feed}/upload", methods=["POST"])
@text_errors
def upload(req: func.HttpRequest) -> func.HttpResponse:
    return handle_upload(req)


def handle_upload(req: func.HttpRequest) -> func.HttpResponse:
    """The upload, for handlers already wrapped in ``text_errors`` (one access line a request)."""
    config = settings.load()
    # A view (feed@view) is read-only: uploading to one is refused with a message saying so.
    access = feed_access(req, Permission.PUBLISH, views=True)

    size = len(req.get_body())
    if size > config.max_upload_bytes + _FORM_OVERHEAD_BYTES:
        raise file_too_large(config.max_upload_bytes)
    content_type = req.headers.get("Content-Type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest(
            "Uploads are multipart/form-data requests, as twine, uv publish and poetry publish send them."
        )
    with UPLOADS.admit(size, limit=config.upload_concurrency_bytes):
        return _store(req, access, config.max_upload_bytes)


def _store(req: func.HttpRequest, access: FeedAccess, max_bytes: int) -> func.HttpResponse:
    try:
        form, files = req.form, req.files
    except ValueError as exc:
        raise BadRequest(f"The multipart body could not be read: {exc}") from None

    part = files.get("content")
    content = UploadFile(part.filename or "", part.content_type, part.stream) if part is not None else None
    fields = {key: form.getlist(key) for key in form}
    validated = validate_upload(fields, content, max_bytes=max_bytes)
    uploaded = None
    if fields.get("upload_time"):
        # An imported file keeps the time it was uploaded elsewhere. Times order what installers see
        # (uv --exclude-newer, pip --uploaded-prior-to), so only those who may manage the feed set one.
        if not auth.may(access.storage, access.principal, access.feed, Permission.MANAGE):
            raise Forbidden(
                "Keeping a file's original upload time ('upload_time', as feedhouse import sends it) needs"
                " the owner role on the feed; import without it (feedhouse import --no-upload-times)."
            )
        uploaded = packages.original_upload_time(fields["upload_time"][-1])
    provenance = None
    attested = (fields.get("attestations") or [""])[-1].strip()
    if attested:
        # Imported on first use: pypi-attestations brings sigstore, seconds of imports that a cold start
        # (and every upload without attestations) should not pay.
        from shared import attestations

        publisher = attestations.signing_publisher(access.storage, access.feed.key, access.principal.name)
        provenance = attestations.provenance(
            attested,
            filename=validated.filename,
            sha256=validated.sha256,
            publisher=publisher,
            verification=settings.load().attestation_verification,
        )
    created = publishing.add_file(
        access.storage,
        access.feed.key,
        validated,
        uploader=access.principal.name,
        uploaded=uploaded,
        provenance=provenance,
    )
    message = "OK" if created else f"{validated.filename} was already uploaded with these exact bytes."
    return func.HttpResponse(message + "\n", status_code=200)
