"""The house contract on app boundaries (ccportal/importlinter_contracts.py), on a small graph."""

from __future__ import annotations

import grimp
import pytest

from ccportal.importlinter_contracts import PublicSurfaceContract


def contract(**options):
    return PublicSurfaceContract(
        name="public surface",
        session_options={"root_packages": ["apps"]},
        contract_options={"public": ["apps.rubrics.checks"], **options},
    )


def graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    made = grimp.ImportGraph()
    for importer, imported in imports:
        for module in (importer, imported):
            made.add_module(module)
        made.add_import(importer=importer, imported=imported, line_number=3, line_contents="")
    return made


@pytest.mark.parametrize(
    "imported",
    ["apps.knowledge.services", "apps.knowledge.selectors.memory", "apps.knowledge.choices"],
)
def test_another_apps_services_selectors_and_choices_may_be_imported(imported):
    assert contract().check(graph(("apps.intelligence.views", imported)), verbose=False).kept


def test_a_module_declared_public_may_be_imported_with_its_descendants():
    used = graph(("apps.intelligence.engine", "apps.rubrics.checks.phrases"))
    assert contract().check(used, verbose=False).kept


@pytest.mark.parametrize("imported", ["apps.knowledge.models", "apps.rubrics.views"])
def test_anything_else_of_another_app_breaks_the_contract(imported):
    check = contract().check(graph(("apps.intelligence.views", imported)), verbose=False)
    assert not check.kept
    assert check.metadata["broken"] == [("apps.intelligence.views", imported, [3])]


def test_models_may_point_at_other_apps_models_and_migrations_at_anything():
    used = graph(
        ("apps.intelligence.models", "apps.conversations.models"),
        ("apps.intelligence.migrations.0002_engine", "apps.rubrics.views"),
        ("apps.intelligence.views", "apps.intelligence.models"),  # its own app: always
    )
    assert contract().check(used, verbose=False).kept


def test_an_ignored_import_is_left_alone():
    used = graph(("apps.demo.services", "apps.accounts.models"))
    options = {"ignore_imports": ["apps.demo.services -> apps.accounts.models"]}
    assert contract(**options).check(used, verbose=False).kept
