"""Talking to the index: the Simple API listing (skip-existing, confirmation), the upload, the confirmation of an
accepted upload, the dry-run prediction.

May import publisher.auth and everything below it.
"""
