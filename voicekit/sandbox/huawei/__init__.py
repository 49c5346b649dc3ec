"""The emulated Huawei BES voice API.

``_state``: app keys, access tokens and release-event callbacks; ``_handlers``: the token and
voice-notification endpoints; ``_release``: the release event POSTed when a notification
ends; ``_routes``: the one table of the vendor's paths.
"""
