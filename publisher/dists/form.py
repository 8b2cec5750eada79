"""The legacy upload form, built from one dist alone (pure: no I/O).

Field names and shapes follow what twine 7 and uv send (see the facts file); `requires_python` is always sent,
empty when absent, because GitLab rejects uploads without it. No md5 is sent, as in uv and twine 7.
"""

from __future__ import annotations

from publisher.dists.collect import Dist
from publisher.dists.digests import Digests

Fields = dict[str, str | list[str]]

# metadata key (packaging's RawMetadata) -> form field, for single values
_SCALARS = {
    "summary": "summary",
    "description": "description",
    "description_content_type": "description_content_type",
    "license": "license",
    "license_expression": "license_expression",
    "author": "author",
    "author_email": "author_email",
    "maintainer": "maintainer",
    "maintainer_email": "maintainer_email",
    "home_page": "home_page",
    "download_url": "download_url",
}
# metadata key -> form field, for repeated values
_LISTS = {
    "classifiers": "classifiers",
    "requires_dist": "requires_dist",
    "provides_extra": "provides_extra",
    "license_files": "license_file",
    "dynamic": "dynamic",
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "requires_external": "requires_external",
    "provides_dist": "provides_dist",
    "obsoletes_dist": "obsoletes_dist",
}


def form_fields(dist: Dist, digests: Digests) -> Fields:
    """Every field except `content`, in the order twine sends them."""
    meta = dist.metadata
    fields: Fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": meta.get("metadata_version", "2.1"),
        "name": dist.name,
        "version": dist.version,
        "filetype": dist.filetype,
        "pyversion": dist.pyversion,
        "sha256_digest": digests.sha256,
        "blake2_256_digest": digests.blake2_256,
        "requires_python": meta.get("requires_python", ""),
    }
    for key, field in _SCALARS.items():
        value: object = meta.get(key)
        if isinstance(value, str) and value:
            fields[field] = value
    keywords = meta.get("keywords")
    if keywords:
        fields["keywords"] = ",".join(keywords)
    for key, field in _LISTS.items():
        values: object = meta.get(key)
        if isinstance(values, list) and values:
            fields[field] = [str(v) for v in values]
    urls = meta.get("project_urls")
    if urls:
        fields["project_urls"] = [f"{label}, {url}" for label, url in urls.items()]
    if dist.attestations:
        fields["attestations"] = dist.attestations
    return fields
