from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from tests.factories import UserFactory
from training.models import Attendance, Audience, ServiceHeadcount, Trainee, TrainingSession


class TrainingSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingSession

    commune = None
    department = None
    title = factory.Sequence(lambda n: f"Détecter les signaux faibles — session {n}")
    date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=7))
    duration_hours = 3
    trainer = "Claire Formatrice"
    place = "Salle du conseil"
    audience = Audience.MUNICIPAL_STAFF
    capacity = 30
    status = TrainingSession.Status.HELD
    created_by = factory.SubFactory(UserFactory)


class TraineeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trainee

    last_name = factory.Faker("last_name", locale="fr_FR")
    first_name = factory.Faker("first_name", locale="fr_FR")
    email = factory.Sequence(lambda n: f"agent{n}@mairie.test")
    service = "Voirie"
    organisation = ""


class AttendanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attendance

    session = factory.SubFactory(TrainingSessionFactory)
    trainee = factory.SubFactory(
        TraineeFactory,
        department=factory.LazyAttribute(
            lambda o: (
                o.factory_parent.session.department or o.factory_parent.session.commune.department
            )
        ),
    )
    status = Attendance.Status.PRESENT


class ServiceHeadcountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceHeadcount

    year = factory.LazyFunction(lambda: timezone.localdate().year)
    service = "Voirie"
    headcount = 10
