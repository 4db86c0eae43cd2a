from django.db import migrations

# Neutral, behavioural categories (DESIGN.md): never a religion, an origin or an opinion.
CATEGORIES = [
    ("family_rupture", "Rupture familiale"),
    ("school_work_rupture", "Rupture scolaire ou professionnelle"),
    ("sudden_change", "Changement soudain de comportement ou d'apparence"),
    ("social_withdrawal", "Repli, retrait de la vie sociale"),
    ("propaganda", "Consultation ou diffusion de propagande violente"),
    ("justification_of_violence", "Justification de la violence"),
    ("travel_projects", "Projets de départ à l'étranger"),
    ("other", "Autre"),
]


def seed(apps, schema_editor):
    Category = apps.get_model("cases", "WeakSignalCategory")
    for position, (code, label) in enumerate(CATEGORIES):
        Category.objects.get_or_create(code=code, defaults={"label": label, "position": position})


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
