"""The house's own import-linter contract: an app is used by other apps only through its public
modules (its services, selectors and choices, and the few each app declares besides).

Configured in pyproject.toml (``type = "public_surface"``), next to the layers and the
protected-models contracts. A models module may import another app's models (ForeignKeys), and
migrations whatever they need.
"""

from __future__ import annotations

from typing import Any

from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.contract import COMMON_CONTRACT_OPTIONS

APPS = "apps"


def _app(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == APPS else None


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class PublicSurfaceContract(Contract):
    """Configuration options:

    - ``public``: the modules other apps may import, as packages ("apps.rubrics.checks").
      ``services``, ``selectors`` and ``choices`` of every app are always public.
    - ``ignore_imports``: "importer -> imported" pairs left alone (say why beside them).
    """

    type_name = "public_surface"

    public = fields.ListField(subfield=fields.StringField())
    ignore_imports = fields.ListField(subfield=fields.StringField(), required=False)

    @classmethod
    def _get_unrecognized_option_errors(cls, contract_options: dict[str, Any]) -> dict[str, str]:
        # The base class reads every attribute of the class, which fails where zope.interface
        # (Twisted, under Daphne) has added a ``__provides__`` that raises on access.
        known = {*COMMON_CONTRACT_OPTIONS, *cls._get_field_names()}
        return {
            option: "Unrecognized option." for option in contract_options if option not in known
        }

    def _public(self, module: str) -> bool:
        parts = module.split(".")
        if len(parts) > 2 and parts[2] in ("services", "selectors", "choices"):
            return True
        return any(_within(module, package) for package in self.public)  # type: ignore[attr-defined]

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        pairs: list[str] = self.ignore_imports or []  # type: ignore[assignment]
        ignored = {tuple(part.strip() for part in pair.split("->")) for pair in pairs}
        broken = []
        for importer in sorted(graph.modules):
            importer_app = _app(importer)
            if importer_app is None:
                continue
            parts = importer.split(".")
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                imported_app = _app(imported)
                if imported_app is None or imported_app == importer_app:
                    continue
                if "migrations" in parts or (parts[-1] == "models" and "models" in imported):
                    continue
                if self._public(imported) or (importer, imported) in ignored:
                    continue
                lines = [
                    detail["line_number"]
                    for detail in graph.get_import_details(importer=importer, imported=imported)
                ]
                broken.append((importer, imported, lines))
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported, lines in check.metadata["broken"]:
            where = ", ".join(f"l.{line}" for line in lines)
            output.print_error(f"- {importer} -> {imported} ({where})", bold=False)
            output.new_line()
        output.print_error(
            "Use the app's services, selectors or choices, or declare the module public in "
            "pyproject.toml and say why.",
            bold=False,
        )
        output.new_line()
