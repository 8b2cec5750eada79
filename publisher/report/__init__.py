"""The printing edge and what every stage raises: the one escaping path for outside text (safe), the consoles
(workflow commands or a terminal), the results and their rendering, the error types, cancellation.

The bottom layer: imports nothing of publisher but itself, so every stage may use it.
"""
