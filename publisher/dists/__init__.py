"""The files to publish: discovery, validation, digests (the bytes sent are the bytes hashed), the upload form.

May import publisher.config and publisher.report; pure but for reading the files.
"""
