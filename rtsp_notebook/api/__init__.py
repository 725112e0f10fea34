"""The stream API as plain async calls (``service``), its one route table (``routes``) and one viewer
conversation (``viewer``): what the REST handlers, the kernel comm and the Python client share. It imports the
engine, ``media`` and ``store``; nothing from ``notebook``.
"""
