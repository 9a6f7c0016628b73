"""Validate a real HTTP answer against the operation's response in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

_URI = "urn:notion-batch:openapi"


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class OpenApiCheck:
    """Checks answers against ``document``: status documented, headers present, body valid."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._registry = Registry().with_resource(_URI, DRAFT202012.create_resource(document))

    def operations(self) -> set[tuple[str, str, str]]:
        """Every documented (path, method, status)."""
        return {
            (path, method, status)
            for path, item in self.document["paths"].items()
            for method, operation in item.items()
            for status in operation["responses"]
        }

    def check(
        self,
        path: str,
        method: str,
        *,
        status: int,
        headers: dict[str, str],
        content_type: str,
        body: Any,
    ) -> None:
        responses = self.document["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path} answered undocumented {status}"
        response = responses[str(status)]
        pointer = _pointer("paths", path, method, "responses", str(status))
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#/")
            name = pointer.rsplit("/", 1)[-1]
            response = self.document["components"]["responses"][name]
        for header, spec in response.get("headers", {}).items():
            if spec.get("required"):
                assert header in headers, f"{method.upper()} {path} {status}: no {header} header"
        content = response["content"]
        assert content_type in content, f"{method.upper()} {path} {status}: {content_type}"
        schema = {"$ref": f"{_URI}#/{pointer}/content/{_pointer(content_type)}/schema"}
        validator = Draft202012Validator(
            schema, registry=self._registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{method.upper()} {path} {status}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )
