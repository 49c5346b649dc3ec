"""The TeleCMI / PIOPIY route table: every path the vendor answers, written once (all ``POST``)."""

from __future__ import annotations

from .._http import RouteTable
from ._handlers import call_action, call_lookup, call_records, click2call, error_body, make_call
from ._state import TELECMI_STATE
from ._store import CDR_KINDS

__all__ = ["TELECMI_ROUTES"]

TELECMI_ROUTES = RouteTable(
    state_key=TELECMI_STATE,
    routes=(
        ("/v2/global_pcmo_make_call", make_call),
        ("/v2/ind_pcmo_make_call", make_call),
        ("/v2/webrtc/click2call", click2call),
        *((f"/v1/{kind}", call_records(kind)) for kind in CDR_KINDS),
        ("/v1/call/action", call_action),
        ("/v1/piopiy/requestid_cdr", call_lookup),
    ),
    error_prefixes=("/v1/", "/v2/"),
    error_body=error_body,
)
