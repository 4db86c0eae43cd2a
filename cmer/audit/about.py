"""Which entries are about a referral: the DPO's search by reference ("who saw or touched
TAR-2026-0007, and everything that depends on it").

An entry is about the referral when

- it names it: its ``object_repr`` is the reference (the referral itself and the objects that
  belong to it — grants, timeline entries, attachments, transmission, access reasons — are
  named by the reference, ``core.audit_repr``; denials too), or ``brouillon-<id>`` for what was
  recorded while it was a draft;
- its object points to the referral: an audited model with a foreign key to it that is not
  named by the reference (a meeting's agenda item, a piece of information from the State);
- it lists the reference among the referrals shown to someone: a list page or a search by
  person records one entry with ``data["references"]`` (``MentionsReference``).

The caller applies the DPO's scope. On PostgreSQL the third condition is served by a GIN index
on the references a row lists (``MENTIONS_INDEX``, migration 0010); it never raises on a row
whose data is not what the application writes (an entry must never be able to block a seal).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from .models import AuditEntry

MENTIONS_INDEX = "audit_entry_mentions_idx"
# Rows that list references: the index's predicate, repeated in every query that uses it.
_LISTS_REFERENCES = "strpos({column}, '\"references\":[') > 0"
# The references of a row as a text[]: the canonical JSON of ``data`` is
# {"references":["TAR-2026-0001",…],…}; references hold neither quotes nor commas.
_REFERENCES = (
    "string_to_array(translate(substring({column} from '\"references\":\\[([^]]*)\\]'), "
    "'\"', ''), ',')"
)


def mentions_index_sql(table: str) -> str:
    """PostgreSQL: the partial GIN index on the references a row lists."""
    column = '"additional_data"'
    return (
        f"CREATE INDEX IF NOT EXISTS {MENTIONS_INDEX} ON {table} USING gin "
        f"(({_REFERENCES.format(column=column)})) "
        f"WHERE {_LISTS_REFERENCES.format(column=column)}"
    )


class MentionsReference(models.Func):
    """True when the entry's ``data["references"]`` lists ``reference`` (an entry recording a
    list page or a search by person)."""

    output_field = models.BooleanField()

    def __init__(self, reference: str) -> None:
        super().__init__(models.F("additional_data"))
        self.reference = reference

    def as_sql(
        self, compiler: Any, connection: Any, *args: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            sql = (
                f"({_REFERENCES.format(column=column)} @> ARRAY[%s]::text[] "
                f"AND {_LISTS_REFERENCES.format(column=column)})"
            )
            return sql, (*params, self.reference, *params)
        # SQLite: JSON1 over the stored JSON, read only when it is valid and the references a
        # list (nested CASE: the order of evaluation is then certain). Only a column compiled
        # by Django goes into the text; the reference is a parameter.
        listed = (
            f"CASE WHEN json_valid({column}) THEN CASE WHEN json_type({column}, "
            f"'$.references') = 'array' THEN {column} END END"
        )
        sql = f"EXISTS (SELECT 1 FROM json_each({listed}, '$.references') WHERE value = %s)"  # noqa: S608
        return sql, (*params, *params, *params, self.reference)


def normalise(reference: str) -> str:
    return reference.strip().upper()


def names_of(reference: str) -> set[str]:
    """How the trail names the referral and what belongs to it: its reference, and
    ``brouillon-<id>`` for what was recorded while it was a draft."""
    referral = apps.get_model("cases", "Referral")
    ids = referral._base_manager.filter(reference=reference).values_list("pk", flat=True)
    return {reference, *(f"brouillon-{pk}" for pk in ids)}


def dependent_objects(reference: str) -> list[tuple[int, list[str]]]:
    """(content type id, primary keys) of the audited objects that point to the referral by a
    foreign key and are not named by its reference: one query per such model."""
    from auditlog.registry import auditlog

    referral = apps.get_model("cases", "Referral")
    ids = list(referral._base_manager.filter(reference=reference).values_list("pk", flat=True))
    if not ids:
        return []
    found = []
    for model in sorted(auditlog.get_models(), key=lambda m: m._meta.label):
        if hasattr(model, "audit_repr"):
            continue  # named by the reference already
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.related_model is referral:
                pks = model._base_manager.filter(**{f"{field.name}__in": ids}).values_list(
                    "pk", flat=True
                )
                keys = [str(pk) for pk in pks]
                if keys:
                    content_type = ContentType.objects.get_for_model(
                        model, for_concrete_model=False
                    )
                    found.append((content_type.pk, keys))
    return found


def about_reference(reference: str) -> Q:
    """The filter of the entries about the referral ``reference`` and what depends on it."""
    reference = normalise(reference)
    # The entries listing it are found first, by themselves (the GIN index, no order): combined
    # with the DPO's scope and the newest-first page in one statement, PostgreSQL misjudges how
    # rare they are and walks the whole trail backwards by time (1 s among 1M entries against
    # 10 ms this way; bench/RESULTS.md).
    listing = AuditEntry.objects.filter(MentionsReference(reference)).values_list("pk", flat=True)
    condition = Q(object_repr__in=names_of(reference)) | Q(pk__in=list(listing))
    for content_type_id, keys in dependent_objects(reference):
        condition |= Q(content_type_id=content_type_id, object_pk__in=keys)
    return condition
