"""The emulated TeleCMI (rest host) and PIOPIY (call records, call control) APIs.

``_state``: accounts, music files, call records and calls (live and ended); ``_calls``: a
placed call played out, with its webhooks; ``_handlers``: the endpoints, validated from the
vendor documents; ``_routes``: the one table of the vendor's paths.
"""
