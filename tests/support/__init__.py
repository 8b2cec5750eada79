"""The real-registry test bed: servers (pypiserver, devpi), real builds, and a runner that runs the action like GitHub.

Nothing here imports `publisher`, so the bed can be proven to work (tests/test_testbed.py) with twine and pip alone.
"""
