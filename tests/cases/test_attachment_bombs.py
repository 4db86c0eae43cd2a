"""Archive attachments are inspected with caps, never decompressed whole (issue 17, point 2).

Each bomb is built by the test (tests/bombs.py), uploaded through the filing form, and must be
refused in well under 10 s without the process allocating more than ~50 MB for it.
"""

from __future__ import annotations

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import Attachment, Referral
from tests import bombs
from tests.cases.helpers import form_data

CREATE = "/signalements/nouveau/"
MAX_SECONDS = 10
MAX_PEAK = 50 * bombs.MiB


def post(client, name: str, data: bytes):
    upload = SimpleUploadedFile(name, data)
    return bombs.measure(
        lambda: client.post(CREATE, {**form_data(submit="1"), "attachments": upload})
    )


def stored_files(private_storage) -> list:
    folder = private_storage / "attachments"
    return list(folder.iterdir()) if folder.exists() else []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "build", "message"),
    [
        ("image.docx", bombs.zip_bomb, "dépasse 16 Mo une fois décompressé"),
        ("rapport.docx", bombs.docx_with_huge_document, "dépasse 16 Mo une fois décompressé"),
        (
            "odt-huge-mimetype.odt",
            lambda: bombs.odt_with_mimetype(200 * bombs.MiB),
            "dépasse 16 Mo une fois décompressé",
        ),
        ("ratio.docx", lambda: bombs.zip_bomb(8 * bombs.MiB), "compressé plus de 100 fois"),
        ("members.docx", lambda: bombs.many_members(5000), "plus de 1000 éléments"),
    ],
    ids=["zip-member-200MiB", "docx-document-200MiB", "odt-mimetype-200MiB", "ratio", "members"],
)
def test_bombs_are_refused_fast_with_bounded_memory(
    as_user, world, private_storage, caplog, name, build, message
):
    data = build()
    assert len(data) < 1024 * 1024  # a small upload…
    client = as_user(world.agent)
    with caplog.at_level(logging.DEBUG):
        response, cost = post(client, name, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert cost.seconds < MAX_SECONDS, cost
    assert cost.peak_bytes < MAX_PEAK, cost
    assert not Referral.objects.exists() and not Attachment.objects.exists()
    assert stored_files(private_storage) == []
    # No member content reaches the logs (the old KeyError logged the whole mimetype member).
    assert "AAAAAAAA" not in caplog.text


@pytest.mark.django_db
def test_odt_with_a_long_stored_mimetype_is_a_clear_refusal_not_a_500(as_user, world, caplog):
    """Under the size caps, but ``mimetype`` is not the few bytes it must be."""
    data = bombs.odt_with_mimetype(2 * bombs.MiB, stored=True)
    with caplog.at_level(logging.DEBUG):
        response = as_user(world.agent).post(
            CREATE, {**form_data(submit="1"), "attachments": SimpleUploadedFile("a.odt", data)}
        )
    assert response.status_code == 200
    assert "un élément attendu court est trop long" in response.content.decode()
    assert not Referral.objects.exists()
    assert "AAAAAAAA" not in caplog.text


@pytest.mark.django_db
def test_an_unknown_opendocument_type_is_refused_as_a_type(as_user, world):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.presentation")
    upload = SimpleUploadedFile("a.odp", buffer.getvalue())
    response = as_user(world.agent).post(CREATE, {**form_data(submit="1"), "attachments": upload})
    assert response.status_code == 200
    assert "Type de fichier refusé" in response.content.decode()
    assert not Referral.objects.exists()


@pytest.mark.django_db
def test_ordinary_office_documents_still_pass(as_user, world, private_storage):
    import io

    import openpyxl

    workbook = openpyxl.Workbook()
    for index in range(2000):
        workbook.active.append([f"ligne {index}", index, "Service des sports"])
    xlsx = io.BytesIO()
    workbook.save(xlsx)
    response = as_user(world.agent).post(
        CREATE,
        {
            **form_data(submit="1"),
            "attachments": [
                SimpleUploadedFile("tableau.xlsx", xlsx.getvalue()),
                SimpleUploadedFile("rapport.docx", bombs.docx_with_huge_document(200_000)),
            ],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Referral.objects.get().attachments.count() == 2
