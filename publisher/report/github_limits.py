"""What GitHub keeps of a step's output, so that nothing we write is dropped whole (pure).

- **The job summary**: GitHub refuses a step's summary over 1 MiB -- all of it, not the part beyond -- and shows an
  error instead. :func:`fit_summary` keeps every append within SUMMARY_CAP: what does not fit is cut after a whole
  line (a code block left open is closed, so the note renders as text) and SUMMARY_CUT says so.
- **Annotations**: each is at most ANNOTATION_CAP characters (:func:`annotation`). Our own messages are far shorter
  and outside text in them is already cut (safe.inline), so this only bounds what a forgotten cap would let through.
"""

from __future__ import annotations

SUMMARY_CAP = 1024 * 1024  # GitHub drops a step's whole summary when it is over 1 MiB
ANNOTATION_CAP = 8 * 1024  # characters of one annotation: our messages are well under it, outside text is cut
SUMMARY_CUT = "\n**The rest of this summary was cut: GitHub shows no step summary over 1 MiB.** The log has it all.\n"


def _open_fence(markdown: str) -> str:
    """The fence of a code block `markdown` leaves open ("" if none)."""
    fence = ""
    for line in markdown.splitlines():
        opener = line[: len(line) - len(line.lstrip("`~"))]
        if len(opener) >= 3 and (not fence or (opener[0] == fence[0] and len(opener) >= len(fence))):
            fence = "" if fence else opener
    return fence


def fit_summary(markdown: str, used: int) -> str | None:
    """`markdown` as it may be appended to a step summary of `used` bytes (each append adds a newline): whole, or
    cut after a whole line with SUMMARY_CUT (a code block left open is closed first), or None: nothing fits."""
    data = markdown.encode("utf-8", "surrogateescape")
    if used + len(data) + 1 <= SUMMARY_CAP:
        return markdown
    room = SUMMARY_CAP - used - 2 - len(SUMMARY_CUT.encode())
    head = data[: max(room, 0)].decode("utf-8", "ignore").rpartition("\n")[0]
    fence = _open_fence(head)
    if fence:  # room for the closing fence: cutting further can only leave that block unopened
        head = data[: max(room - len(fence) - 1, 0)].decode("utf-8", "ignore").rpartition("\n")[0]
        fence = _open_fence(head)
    if room <= 0 or not head:
        return None
    return f"{head}\n{fence}\n{SUMMARY_CUT}" if fence else f"{head}\n{SUMMARY_CUT}"


def annotation(message: str) -> str:
    """An annotation's text, at most ANNOTATION_CAP characters (and a note of what was cut)."""
    if len(message) <= ANNOTATION_CAP:
        return message
    return f"{message[:ANNOTATION_CAP]}... ({len(message) - ANNOTATION_CAP} more characters cut)"
