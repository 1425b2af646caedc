# Loaded at start-up by every Python process whose PYTHONPATH holds this folder
# (the root conftest.py arranges that for tests): blocks non-loopback connections.
import os

if os.environ.get("AIFFEL_BLOCK_NETWORK") == "1":
    import netguard

    netguard.install()
