"""A faithful local emulator of the TeleCMI / PIOPIY and Huawei BES voice APIs (aiohttp.web).

The sandbox implements the vendor documents, not voicekit's client: it validates requests
itself and answers with the documented paths, status codes and bodies, over real loopback HTTP.
It only ever listens on, and sends callbacks to, loopback addresses.

Running it::

    async with Sandbox(seed_records=1_000_000) as sb:     # in the running event loop
        sb.url                                            # "http://127.0.0.1:<free port>"

    with SyncSandbox() as sb:                             # from blocking code (own loop thread)
        ...

    serve(port=8765)                                      # blocking, until Ctrl-C

``sb.telecmi_url``, ``sb.piopiy_url`` and ``sb.huawei_url`` all equal ``sb.url``: one server
answers every endpoint (all ``POST`` with JSON bodies):

=====================================================================  =========================
``/v2/global_pcmo_make_call``, ``/v2/ind_pcmo_make_call``              TeleCMI PCMO call (play,
                                                                       bridge, ...)
``/v2/webrtc/click2call``                                              TeleCMI click-to-call
``/v1/outanswered``, ``/v1/answered``, ``/v1/missed``, ``/v1/outmissed``  PIOPIY call records
``/v1/call/action``                                                    PIOPIY call control
``/v1/piopiy/requestid_cdr``                                           PIOPIY per-call lookup
``/apigovernance/api/oauth/tokenByAkSk``                               Huawei access token
``/apiaccess/rest/voiceNotification/v2/createVoiceNotification``       Huawei voice notification
=====================================================================  =========================

Default accounts (constructor keywords and attributes of the same name):

- TeleCMI app: ``telecmi_appid=2222226``, ``telecmi_secret="sandbox-secret"``; the PIOPIY
  ``token`` is the app secret. Click-to-call user ``telecmi_user_id="101_1111112"`` with the
  app secret. More: ``sb.add_telecmi_account(appid, secret, user_id=None)``.
- Uploaded music files: ``music_files={"welcome_11112.wav", "welcome.wav", "welcome.mp3",
  "hold.mp3"}`` (a set; a ``play`` / ``play_get_input`` naming another file gets 404).
- Huawei: ``huawei_app_key="sandbox-app-key"``, ``huawei_app_secret="sandbox-app-secret"``.
  More: ``sb.add_huawei_account(app_key, app_secret)``.

Knobs (keywords and attributes, changeable at run time):

- ``latency`` (s, default 0): delay added before every request is handled.
- ``rate_limit`` (requests/s per account, default ``None`` = off) and ``rate_burst`` (bucket
  size, default ``ceil(rate_limit)``): a token bucket per account (TeleCMI appid, shared by its
  click-to-call users and call records; Huawei app key). An empty bucket answers 429 with an
  integer ``Retry-After`` header (at least 1 s). Unauthenticated requests are not counted.
- ``seed_records`` (default 0): that many synthetic ``outanswered`` records for the default
  TeleCMI app, spread over the 24 h before the sandbox was created; generated on demand from
  their index, so a million of them costs no memory.
- ``outcomes`` (an :class:`OutcomePlan`): what happens to each placed call (TeleCMI and
  Huawei): ``answer_rate`` (default 1.0), ``ring`` (default 3 s), ``talk`` (default: ``billedsec``
  for TeleCMI, ``huawei_talk_duration`` for Huawei), ``seed`` (reproducible draws: the n-th call
  to a number depends only on seed, number and n) and per-number rules
  (``sb.outcomes.set("9100000001", answer=False, ring=20)``).
- ``time_scale`` (default 0): wall seconds per simulated second. At 0 a call plays out at once
  (its record exists when the make-call answer arrives); at 0.001 a call that rings 3 s and talks
  20 s ends 23 ms later; at 1.0 in real time. While a TeleCMI call rings or talks it is in
  ``sb.live_calls`` (by ``cmiuuid``, a :class:`LiveCall`) and answers call control.
- ``record_delay`` (s, default 0): an ended TeleCMI call (make-call, play, click-to-call)
  becomes an ``outanswered`` (or ``outmissed``) record that long after it ended; its
  ``billedsec`` is the talk time (``billedsec``, default 30, unless the plan says otherwise).
- ``telecmi_webhook_url`` (default ``None``): the URL set in the vendor's dashboard. Each call
  POSTs ``type: "event"`` webhooks (``started``, ``answered``, ``hangup``) once, then its
  ``type: "cdr"`` (status ``answered`` or ``missed``) at each offset of ``cdr_resend_schedule``
  (default :data:`CDR_RESEND_SCHEDULE`: 0, +5, +10, +15 minutes; pass e.g. ``(0, 0.01, 0.02,
  0.03)`` in tests) until the receiver answers 200. Fields: ``appid, direction, cmiuuid,
  conversation_uuid, leg, request_id, extra_params`` (a JSON string), ``time`` (ms), ``duration``
  and ``billedsec`` (talk seconds), ``start_time/answer_time/end_time`` (s; 0 = never),
  ``call_rate, balance, status, hangup_reason, from, to``. Loopback URLs only; every attempt is
  logged in ``sb.telecmi_webhooks``.
- ``callback_delay`` (s, default 0.05): when a Huawei notification with ``callBackUrl`` ends,
  the release event is POSTed there (only to loopback URLs; others are skipped and logged).
  ``huawei_release_reason`` (default ``"0"``: the called party hung up after connecting),
  ``huawei_talk_duration`` (default 12 s), ``huawei_callback_signer`` (``dict -> str``, default
  none: ``signature`` is empty; the vendor's exact signing is not public).
- ``clock`` (default ``time.time``): epoch-seconds clock used for token expiry, call and record
  times; replace it to fake time in tests.
- ``max_body_size`` (default 1 MiB): larger bodies get 413.
- ``page_cap`` (default ``None``): the most records a call-record page holds. A larger ``limit``
  is served this many per page, and ``page`` counts pages of this size, as TeleCMI's global
  record endpoints do with a ``limit`` over 20.

Fault plan (``sb.faults``, a :class:`FaultPlan`), applied to the next ``count`` requests to a
path (``None`` = any path), first added first served::

    sb.faults.add("/v2/global_pcmo_make_call", status=503)            # placed, then 503
    sb.faults.add(path, status=500, placed=False)                      # 500, nothing placed
    sb.faults.add(path, status=429, count=3, retry_after=2)            # 429 + Retry-After
    sb.faults.add(path, drop=True)                  # placed, then connection closed, no answer
    sb.faults.add(path, stall=2.0)                  # placed, answer after 2 s
    sb.faults.add(path, stall=2.0, placed=False)    # wait 2 s, then process only if the client
                                                    # is still connected

``placed`` defaults to ``True`` for 5xx, drops and stalls and must be ``False`` for 429.

Records of what happened:

- ``sb.calls``: the vendor's own ledger, a list of :class:`PlacedCall` (``endpoint, account,
  from_, to, request_id, extra_params, time``; numbers as digit strings; never a secret).
  ``sb.calls_to(number)`` filters it.
- ``sb.requests``: :class:`RequestLogEntry` ``(method, path, status, time)`` per request
  (``status=None``: dropped); ``sb.request_count(path=None, status=None)``.
- ``sb.callbacks``: :class:`CallbackDelivery` per release-event callback attempt;
  ``sb.telecmi_webhooks`` the same per TeleCMI webhook attempt.
- ``sb.live_calls`` / ``sb.ended_calls``: TeleCMI calls by ``cmiuuid`` (:class:`LiveCall`:
  ``phase``, ``held``, ``hold_changes``, ``hangup_reason``, ``answer_at``, ``end_at``);
  ``sb.cmiuuids`` maps ``request_id`` to ``cmiuuid``.
- ``sb.huawei_token_requests``: number of token requests; ``sb.reset()`` forgets everything.

Error bodies (not documented by the vendors; chosen here):

- TeleCMI and PIOPIY: ``{"code": <status>, "msg": "<text>", "status": "error"}``. Phone
  numbers (``from``, ``to``, ``callerid``, bridge ``number``) are positive integers or digit
  strings of at most 20 digits. Make-call:
  420 bad appid/secret, 422 missing required property (or ``appid``/``secret``/``from``/``to``/
  ``pcmo``/``extra_params`` of the wrong type), 502 a PCMO action lacking a required property,
  of the wrong shape or unknown, 404 unknown music file. Click-to-call: 400 ``user_id`` or
  ``secret`` missing, 404 bad user id or secret, 422 ``to`` missing/invalid, bad ``webrtc``/
  ``followme``/``callerid``, or ``followme`` true with ``webrtc`` true. Call records: 404 bad
  appid/token, 422 missing appid/token, bad dates, ``page < 1`` or ``limit`` outside 1..100.
  Call control (``{appid, secret, cmiuuid, action}``): 420 bad appid/secret, 422 a missing or
  bad field or an action other than ``hangup, hold, unhold, holdToggle``, 404 an unknown
  ``cmiuuid`` or an ended call, 409 a hold action on a call still ringing; 200
  ``{"code": 200, "status": "success", "msg", "cmiuuid", "action", "hold"}``. Per-call lookup
  (``{appid, secret, request_id}``): 404 bad appid/secret, 422 missing fields; 200
  ``{"count", "cdr": [{request_id, cmiuuid, leg, direction, status, duration, billedsec, rate,
  balance, from, to, start_time, answer_time, end_time, hangup_reason}], "code": 200}``, empty
  while the call is live.
  Any endpoint: 400 body not a JSON object, 413 body too large, 429 rate limited.
- Huawei HTTP errors: ``{"retCode": "<status>", "retMsg": "<text>"}`` (400 malformed body or
  headers, 401 bad keys / missing, unknown or expired token / ``X-APP-Key`` mismatch).
  Business-rule violations of createVoiceNotification answer HTTP 200 with ``retMsg`` naming
  the field and ``retCode``: ``"02000001"`` mandatory parameter missing, ``"02000002"`` wrong
  type, ``"02000003"`` value, length or array size out of range (or a non-http(s)
  ``callBackUrl``), ``"02000004"`` a playList item without exactly one of voiceId,
  voiceFileName, templateId.
"""

from __future__ import annotations

from ._app import ROUTES, create_app
from ._faults import Fault, FaultPlan
from ._outcomes import CallRule, Decision, OutcomePlan
from ._server import Sandbox, SyncSandbox, serve
from ._state import (
    CDR_RESEND_SCHEDULE,
    DEFAULT_HUAWEI_APP_KEY,
    DEFAULT_HUAWEI_APP_SECRET,
    DEFAULT_MUSIC_FILES,
    DEFAULT_TELECMI_APPID,
    DEFAULT_TELECMI_SECRET,
    DEFAULT_TELECMI_USER_ID,
    CallbackDelivery,
    PlacedCall,
    RequestLogEntry,
    SandboxState,
)
from .huawei._handlers import RET_BAD_TYPE, RET_BAD_VALUE, RET_MISSING, RET_PLAY_SOURCE
from .huawei._release import NOT_ANSWERED_RELEASE_REASON
from .telecmi._calls import cdr_payload, event_payload
from .telecmi._state import LiveCall

__all__ = [
    "CDR_RESEND_SCHEDULE",
    "DEFAULT_HUAWEI_APP_KEY",
    "DEFAULT_HUAWEI_APP_SECRET",
    "DEFAULT_MUSIC_FILES",
    "DEFAULT_TELECMI_APPID",
    "DEFAULT_TELECMI_SECRET",
    "DEFAULT_TELECMI_USER_ID",
    "NOT_ANSWERED_RELEASE_REASON",
    "RET_BAD_TYPE",
    "RET_BAD_VALUE",
    "RET_MISSING",
    "RET_PLAY_SOURCE",
    "ROUTES",
    "CallRule",
    "CallbackDelivery",
    "Decision",
    "Fault",
    "FaultPlan",
    "LiveCall",
    "OutcomePlan",
    "PlacedCall",
    "RequestLogEntry",
    "Sandbox",
    "SandboxState",
    "SyncSandbox",
    "cdr_payload",
    "create_app",
    "event_payload",
    "serve",
]
