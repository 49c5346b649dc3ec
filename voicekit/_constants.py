"""Default numbers and vendor base URLs, in one place."""

from __future__ import annotations

TELECMI_REST_URL = "https://rest.telecmi.com"
TELECMI_PIOPIY_URL = "https://piopiy.telecmi.com"

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_TOTAL_TIMEOUT = 30.0

DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_RETRY_TIMEOUT = 60.0
DEFAULT_BACKOFF_INITIAL = 0.25
DEFAULT_BACKOFF_MAX = 8.0
# A Retry-After larger than this is not waited out silently: the error is raised instead.
MAX_RETRY_AFTER = 60.0
# The longest pause a vendor's Retry-After imposes on an account in this process; a larger one
# (or a bogus one) is cut to this, and the next 429 after it pauses the account again.
MAX_VENDOR_PAUSE = 3600.0
# How much of an error body an exception keeps (text that is not JSON, e.g. an HTML page).
MAX_ERROR_BODY_CHARS = 2000

# TeleCMI documents no rate limit; this default keeps a runaway loop polite. Set rate_limit=None
# on the client to turn client-side limiting off.
DEFAULT_TELECMI_RATE = 50.0
DEFAULT_HUAWEI_RATE = 50.0

DEFAULT_PAGE_SIZE = 10
# The CHUB-India record endpoints document a default of 10 per page and no maximum; the global
# family caps at 20. 100 is our guess at a safe ceiling for the PIOPIY host (uncertain).
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_CONCURRENCY = 4
DEFAULT_RECORD_WINDOW_SECONDS = 24 * 3600

DEFAULT_CONNECTION_LIMIT = 100

DEFAULT_BULK_CONCURRENCY = 32
# A bulk key is the caller's row id; anything longer is not an id.
MAX_KEY_LEN = 256
MAX_BULK_CONCURRENCY = 1000

# Huawei BES: tokens are minted for at most 3600 s; renew this long before expiry.
HUAWEI_TOKEN_LIFETIME = 3600
HUAWEI_TOKEN_RENEW_MARGIN = 60.0
