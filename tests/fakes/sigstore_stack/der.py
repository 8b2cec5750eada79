"""The little DER the stack writes or edits by hand, where `cryptography` has no API for it.

Fulcio's extensions are DER UTF8Strings, the SCT list extension is an OCTET STRING around a TLS structure, and a CT
log signs a precertificate's TBS *without* its poison extension, which means cutting one extension out of encoded
bytes. Only definite lengths and one-byte tags occur in X.509, so that is all this parses.
"""

from __future__ import annotations

UTF8_STRING = 0x0C
OCTET_STRING = 0x04
SEQUENCE = 0x30
OBJECT_IDENTIFIER = 0x06
EXTENSIONS = 0xA3  # TBSCertificate's `[3] EXPLICIT Extensions`


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length(len(content)) + content


def utf8_string(text: str) -> bytes:
    return tlv(UTF8_STRING, text.encode())


def octet_string(content: bytes) -> bytes:
    return tlv(OCTET_STRING, content)


def oid(dotted: str) -> bytes:
    """The DER encoding of an OBJECT IDENTIFIER, tag and length included."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


def elements(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """Split concatenated TLVs into `(tag, whole encoding, content)`; raises ValueError on anything malformed."""
    out = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated DER header")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first < 0x80:
            size = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + count > len(data):
                raise ValueError("unsupported DER length")
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if pos + size > len(data):
            raise ValueError("DER element runs past its container")
        header_start = pos - (2 if first < 0x80 else 2 + (first & 0x7F))
        out.append((tag, data[header_start : pos + size], data[pos : pos + size]))
        pos += size
    return out


def only(data: bytes, tag: int) -> bytes:
    """The content of `data`, which must be exactly one element with `tag`."""
    parts = elements(data)
    if len(parts) != 1 or parts[0][0] != tag:
        raise ValueError(f"expected a single element with tag {tag:#x}")
    return parts[0][2]


def without_extension(tbs: bytes, extension_oid: str) -> bytes:
    """`tbs` (a TBSCertificate) re-encoded without the extension `extension_oid`; ValueError if it has none."""
    target = oid(extension_oid)
    fields = elements(only(tbs, SEQUENCE))
    rebuilt = []
    removed = False
    for tag, whole, content in fields:
        if tag == EXTENSIONS:
            kept = []
            for _, extension, inner in elements(only(content, SEQUENCE)):
                if inner.startswith(target):
                    removed = True
                else:
                    kept.append(extension)
            whole = tlv(EXTENSIONS, tlv(SEQUENCE, b"".join(kept)))
        rebuilt.append(whole)
    if not removed:
        raise ValueError(f"the TBSCertificate has no extension {extension_oid}")
    return tlv(SEQUENCE, b"".join(rebuilt))
