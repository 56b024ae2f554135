"""The reference pages in ``docs/reference/``, each generated from the code it documents.

One module per page; each exposes ``render() -> str``. ``tools/docs_reference.py`` writes them
(or, with ``--check``, fails when one is out of date).
"""
