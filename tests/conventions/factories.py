from __future__ import annotations

import datetime
import io

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from conventions.models import (
    CharterAcknowledgement,
    CharterVersion,
    Convention,
    Side,
    Signatory,
    SignedDocument,
)
from tests.factories import CommuneFactory, UserFactory


def make_pdf(text: str = "Protocole", pages: int = 1) -> bytes:
    """A small valid PDF (pypdf writer), different for each ``text``."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({NameObject("/Title"): TextStringObject(text)})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_upload(text: str = "Protocole", name: str = "signe.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, make_pdf(text), content_type="application/pdf")


class ConventionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Convention
        skip_postgeneration_save = True

    commune = factory.SubFactory(CommuneFactory)
    kind = Convention.Kind.PROTOCOL
    title = factory.Sequence(lambda n: f"Protocole CMER {n}")
    reference = factory.Sequence(lambda n: f"PREF-{n:04d}")
    effective_date = factory.LazyFunction(lambda: timezone.localdate())
    end_date = factory.LazyAttribute(lambda o: o.effective_date + datetime.timedelta(days=3 * 365))
    status = Convention.Status.DRAFT
    created_by = factory.SubFactory(UserFactory)
    created_side = Side.COMMUNE

    class Params:
        # Signed as the actions would leave it: a mayor and a prefect, each signature recorded
        # (by two different people). Without both, the gate does not count it (see the model).
        signed = factory.Trait(
            status=Convention.Status.SIGNED,
            signed_at=factory.LazyFunction(timezone.now),
            mayor=factory.RelatedFactory(
                "tests.conventions.factories.SignatoryFactory",
                factory_related_name="convention",
                side=Side.COMMUNE,
                capacity=Signatory.Capacity.MAYOR,
                recorded=True,
            ),
            prefect=factory.RelatedFactory(
                "tests.conventions.factories.SignatoryFactory",
                factory_related_name="convention",
                side=Side.PREFECTURE,
                capacity=Signatory.Capacity.PREFECT,
                recorded=True,
            ),
        )


class SignatoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signatory

    convention = factory.SubFactory(ConventionFactory)
    side = Side.COMMUNE
    name = factory.Faker("name", locale="fr_FR")
    capacity = Signatory.Capacity.MAYOR

    class Params:
        recorded = factory.Trait(
            signed_on=factory.LazyFunction(timezone.localdate),
            signature_recorded_by=factory.SubFactory(UserFactory),
            signature_recorded_at=factory.LazyFunction(timezone.now),
        )


class SignedDocumentFactory(factory.django.DjangoModelFactory):
    """Stores a real PDF through the storage with its true hash (no action, no audit row)."""

    class Meta:
        model = SignedDocument

    convention = factory.SubFactory(ConventionFactory, signed=True)
    version = factory.Sequence(lambda n: n + 1)
    uploaded_by = factory.SubFactory(UserFactory)
    pages = 1

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        import hashlib

        from django.core.files.base import ContentFile

        content = make_pdf(f"doc-{kwargs['version']}")
        document = model_class(*args, **kwargs)
        document.sha256 = hashlib.sha256(content).hexdigest()
        document.size = len(content)
        document.file.save("signed.pdf", ContentFile(content), save=False)
        document.save()
        return document


class CharterVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CharterVersion

    version = factory.Sequence(lambda n: n + 1)
    text = "Je m'engage à ne rien divulguer des informations échangées au sein de la cellule."
    published_by = factory.SubFactory(UserFactory)


class CharterAcknowledgementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CharterAcknowledgement

    user = factory.SubFactory(UserFactory)
    charter = factory.SubFactory(CharterVersionFactory)
