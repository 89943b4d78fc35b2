"""The Kubernetes target: manifests (pure) and an adapter over lightkube.

Import the submodules directly; this package imports nothing so that loading it stays cheap.
"""
