# CMER — two commands: `make run` (demo site on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint format migrations-check ci lock clean messages

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) scripts/check_system.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: $(STAMP)
	@$(PYTHON) scripts/check_system.py || true
	CMER_TESTING=1 $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	git ls-files -z '*.py' | grep -zv '/migrations/' \
	  | xargs -0 $(BIN)/django-upgrade --target-version 5.2 --skip model_field_choices
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: $(STAMP)
	$(BIN)/python manage.py makemigrations --check --dry-run

ci:
	bash .ci/run

# Re-pin the whole dependency tree after changing pyproject.toml.
lock:
	rm -rf /tmp/cmer-lock && $(PYTHON) -m venv /tmp/cmer-lock
	/tmp/cmer-lock/bin/pip install --quiet --upgrade "pip>=24"
	/tmp/cmer-lock/bin/pip install --quiet -e ".[dev]"
	/tmp/cmer-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

# Translations: French is the source; the English catalogue is compiled and committed (.mo),
# so that a fresh machine needs no gettext tools.
messages: $(STAMP)
	$(BIN)/python manage.py makemessages -l en --ignore=.venv --ignore=var --no-obsolete
	$(BIN)/python scripts/french_plurals.py
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var
