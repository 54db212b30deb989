"""A sixth provider, kept outside the package: proof that adding one touches no shared file.

See docs/adding-a-provider.md, which walks through these two modules.
"""
