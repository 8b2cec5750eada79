"""The shape of a PEP 740 attestation file found beside a dist (collect.py reads it before the first upload).

A module of its own so that its pydantic models are built only for a run that has an attestation: most have none,
and each model costs start-up time (issue 18).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Envelope(BaseModel):
    statement: str
    signature: str


class VerificationMaterial(BaseModel):
    certificate: str
    transparency_entries: list[dict[str, object]] = Field(min_length=1)


class Attestation(BaseModel):
    """PEP 740's attestation object, as far as an upload needs it: the index verifies the signature itself."""

    version: Literal[1]
    verification_material: VerificationMaterial
    envelope: Envelope
