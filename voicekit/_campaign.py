"""Campaign CSV files: one header row, then one call per row, read lazily into specs.

TeleCMI play-a-music campaigns (``vendor="telecmi"``)::

    key,to,from,file_name,region,extra_params
    c-001,919100000001,919100000000,welcome.wav,ind,"{""crm"": 1}"

- ``to``, ``from``: phone numbers (7-16 digits; ``+``, spaces and dashes are dropped).
- ``file_name`` (an uploaded ``.wav`` / ``.mp3``) or ``file_url``: exactly one per row.
- ``region`` (optional): ``global`` (default) or ``ind``.
- ``extra_params`` (optional): a JSON object, sent back to you in the vendor's webhooks. Every
  call also carries its row's key there, as ``"voicekit_key": "<key>"`` (merged with the row's
  own ``extra_params``; the name is reserved), so that a webhook maps back to exactly one row.

Huawei voice-notification campaigns (``vendor="huawei"``)::

    key,called,voice_id,template_id,template_params,caller_present,play_times,priority,callback_url

- ``called``: the number to call.
- ``voice_id``, ``voice_file_name`` or ``template_id``: exactly one per row.
- ``template_params`` (optional): ``|``-separated values, e.g. ``100|200``.
- ``caller_present``, ``play_times`` (1-5), ``priority`` (1-9), ``callback_url``: optional.

Both: ``key`` is optional (default: the row number) and must be unique; column names are matched
case-insensitively and other columns are ignored. Rows are numbered as in a spreadsheet: the
header is row 1, so the first call is row 2. The file must be UTF-8 (a BOM is fine). A row that
cannot become a call (a missing value, a bad number, undecodable bytes) is yielded with its
`problem` instead of a spec, and reading goes on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, Final, Literal

import attrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from ._converter import AS_GIVEN, converter, wire
from ._policy import Policy
from ._validate import check_int_range, check_str, phone_number
from .errors import ConfigurationError, ValidationError
from .huawei import Notify, Prompt
from .telecmi import Dial, Play

__all__ = [
    "HUAWEI_COLUMNS",
    "TELECMI_COLUMNS",
    "Campaign",
    "CampaignRow",
    "Vendor",
    "check_columns",
    "check_name",
    "default_name",
    "detect_vendor",
    "dialed_number",
    "fingerprint",
    "in_shard",
    "parse_shard",
    "read_campaign",
    "read_header",
    "spec_from_json",
    "spec_to_json",
]

Vendor = Literal["telecmi", "huawei"]

TELECMI_COLUMNS: Final = ("key", "to", "from", "file_name", "file_url", "region", "extra_params")
HUAWEI_COLUMNS: Final = (
    "key",
    "called",
    "voice_id",
    "voice_file_name",
    "template_id",
    "template_params",
    "caller_present",
    "play_times",
    "priority",
    "callback_url",
)
_REQUIRED: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    # Each inner tuple: at least one of these columns must be in the header.
    "telecmi": (("to",), ("from",), ("file_name", "file_url")),
    "huawei": (("called",), ("voice_id", "voice_file_name", "template_id")),
}
_ENCODING: Final = "utf-8-sig"


@attrs.frozen(kw_only=True)
class CampaignRow:
    """One data row: its spreadsheet `number` (the header is row 1), its `key`, and either the
    `spec` to send or the `problem` that kept it from becoming one."""

    number: int
    key: str
    spec: Dial | Notify | None = None
    problem: str | None = None
    #: The row's ``tz`` column, if the file has one (a policy with ``tz="column"`` reads it).
    tz: str | None = None


def default_name(path: str | os.PathLike[str]) -> str:
    """A campaign's name when none is given: its file's name without the extension."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return stem if stem.strip() and not _undecodable(stem) else "campaign"


def check_name(name: Any) -> str:
    """A campaign name: 1 to 100 printable characters.

    Raises:
        ValidationError: not such a name.
    """
    if not isinstance(name, str) or not name.isprintable():
        raise ValidationError("campaign", f"a campaign name must be 1 to 100 printable characters, got {name!r}")
    return check_str("campaign", name, max_len=100)


@attrs.frozen(kw_only=True)
class Campaign:
    """What identifies a campaign: its file's content, the vendor, the columns, the shard, the
    `policy` every worker applies (calling window, time zones); and the name it runs under in a
    journal (default: the file's name without its extension).

    Two campaigns are the same when everything but `path` and `name` matches: a moved or copied
    file with the same content is the same campaign; the same file run with another policy is
    not (a worker started with another policy is refused).
    """

    path: str
    size: int
    sha256: str
    vendor: Vendor
    columns: tuple[str, ...]
    shard: tuple[int, int] | None = None
    name: str = attrs.field(default=attrs.Factory(lambda self: default_name(self.path), takes_self=True))
    policy: Policy | None = None

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        vendor: Vendor | None = None,
        shard: tuple[int, int] | None = None,
        name: str | None = None,
        policy: Policy | None = None,
    ) -> Campaign:
        """Read a campaign file's identity (its header, and its SHA-256 in one streaming pass).

        Raises:
            ConfigurationError: the file cannot be read, or its header names no known vendor or
                lacks a column the vendor needs (or the ``tz`` column `policy` reads zones from).
            ValidationError: `name` is not a campaign name.
        """
        name = default_name(path) if name is None else check_name(name)
        columns = read_header(path)
        vendor = vendor or detect_vendor(columns)
        check_columns(path, vendor, columns)
        if policy is not None and policy.window is not None and policy.tz == "column" and "tz" not in columns:
            raise ConfigurationError(
                f'{os.fspath(path)}: the calling window\'s zones come from a tz column (tz="column"), but the '
                f"header has none: {_shown(columns)}"
            )
        size, sha = fingerprint(path)
        return cls(
            path=os.path.abspath(path),
            size=size,
            sha256=sha,
            vendor=vendor,
            columns=columns,
            shard=shard,
            name=name,
            policy=policy if policy is not None and policy.active else None,
        )

    def same_as(self, other: Campaign) -> bool:
        """Whether `other` is this campaign (everything but the path and the name matches)."""
        return attrs.evolve(other, path=self.path, name=self.name) == self

    def describe(self) -> str:
        """One line: name, file, size, hash prefix, vendor, shard."""
        shard = f", shard {self.shard[0]}/{self.shard[1]}" if self.shard else ""
        policy = f"; {self.policy.describe()}" if self.policy is not None else ""
        return (
            f"{self.name!r}: {self.path} ({self.size:,} bytes, sha256 {self.sha256[:12]}, {self.vendor}{shard}){policy}"
        )

    def _to_json(self) -> str:
        identity: dict[str, Any] = {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "vendor": self.vendor,
            "columns": list(self.columns),
            "shard": list(self.shard) if self.shard else None,
        }
        if self.policy is not None:  # a campaign without one keeps the identity older versions wrote
            identity["policy"] = self.policy.to_json()
        return json.dumps(identity)

    @classmethod
    def _from_json(cls, text: str, *, name: str | None = None) -> Campaign:
        d = json.loads(text)
        shard = d.get("shard")
        return cls(
            path=d["path"],
            size=d["size"],
            sha256=d["sha256"],
            vendor=d["vendor"],
            columns=tuple(d["columns"]),
            shard=(int(shard[0]), int(shard[1])) if shard else None,
            name=name if name is not None else default_name(d["path"]),
            policy=Policy.from_json(d["policy"]) if d.get("policy") else None,
        )


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (1 <= I <= N) as ``(I, N)``.

    Raises:
        ValidationError: not of that form.
    """
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or not 1 <= i <= n:
        raise ValidationError("shard", f'must be "I/N" with 1 <= I <= N, e.g. "1/4", got {text!r}')
    return i, n


def in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    """Whether `key` belongs to shard ``(I, N)``: a stable hash of the key, mod N, equals I-1."""
    if shard is None:
        return True
    index, count = shard
    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count == index - 1


def fingerprint(path: str | os.PathLike[str]) -> tuple[int, str]:
    """The size in bytes and the SHA-256 (hex) of the file's content."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _open(path: str | os.PathLike[str]) -> Any:
    try:
        return open(path, encoding=_ENCODING, errors="surrogateescape", newline="")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the campaign file {os.fspath(path)!r}: {exc.strerror}") from None


def _norm(name: str) -> str:
    return name.strip().lower()


def read_header(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The campaign's column names, normalised (stripped, lower case).

    Raises:
        ConfigurationError: the file cannot be read, is empty, or its header is not UTF-8 text.
    """
    with _open(path) as f:
        try:
            header = next(csv.reader(f), None)
        except csv.Error as exc:
            raise ConfigurationError(f"{os.fspath(path)}: unreadable header row ({exc})") from None
    if not header:
        raise ConfigurationError(f"{os.fspath(path)}: the file is empty; the first row must name the columns")
    names = tuple(_norm(name) for name in header)
    if any(_undecodable(name) for name in names):
        raise ConfigurationError(f"{os.fspath(path)}: the header row is not UTF-8 text; save the file as UTF-8")
    return names


def detect_vendor(columns: Sequence[str]) -> Vendor:
    """``"huawei"`` if the header has a ``called`` column, ``"telecmi"`` if it has ``to``.

    Raises:
        ConfigurationError: neither (the message lists the expected columns).
    """
    if "called" in columns:
        return "huawei"
    if "to" in columns:
        return "telecmi"
    raise ConfigurationError(
        "cannot tell the campaign's vendor from its header "
        f"({_shown(columns) or 'no columns'}); a TeleCMI campaign needs the columns "
        "to, from, file_name; a Huawei one called, voice_id (see `voicekit dial --help`)"
    )


def check_columns(path: str | os.PathLike[str], vendor: Vendor, columns: Sequence[str]) -> None:
    """Raise ConfigurationError if the header lacks a column the vendor needs, or repeats one."""
    for group in _REQUIRED[vendor]:
        if not any(name in columns for name in group):
            wanted = " or ".join(repr(name) for name in group)
            raise ConfigurationError(
                f"{os.fspath(path)}: a {vendor} campaign needs a {wanted} column; the header has: {_shown(columns)}"
            )
    duplicated = sorted({name for name in columns if name and columns.count(name) > 1})
    if duplicated:
        raise ConfigurationError(f"{os.fspath(path)}: the header repeats the column(s) {_shown(duplicated)}")


def _shown(columns: Sequence[str], limit: int = 20) -> str:
    """Column names fit for one line of a terminal: control characters escaped, a few of them."""
    shown = [name if name.isprintable() else repr(name) for name in columns[:limit]]
    more = f", ... ({len(columns) - limit} more)" if len(columns) > limit else ""
    return ", ".join(shown) + more


def _undecodable(text: str) -> bool:
    # Bytes that are not UTF-8 were read as lone surrogates (errors="surrogateescape").
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_campaign(
    path: str | os.PathLike[str],
    *,
    vendor: Vendor | None = None,
    shard: tuple[int, int] | None = None,
) -> Iterator[CampaignRow]:
    """Yield the campaign's rows lazily, in file order (only those of `shard`, if given).

    Raises:
        ConfigurationError: the file cannot be read or its header lacks a required column (a
            problem with one row is that row's `problem`, never an exception).
    """
    columns = read_header(path)
    vendor = vendor or detect_vendor(columns)
    check_columns(path, vendor, columns)
    build = _telecmi_spec if vendor == "telecmi" else _huawei_spec
    with _open(path) as f:
        reader = csv.reader(f)
        number = 1
        try:
            next(reader)
        except csv.Error:
            pass
        while True:
            number += 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                key = str(number)
                if in_shard(key, shard):
                    yield CampaignRow(number=number, key=key, problem=f"unreadable row ({exc})")
                continue
            if not any(field.strip() for field in fields):
                continue  # a blank line
            yield from _row(number, fields, columns, shard, build)


def _row(
    number: int,
    fields: list[str],
    columns: Sequence[str],
    shard: tuple[int, int] | None,
    build: Any,
) -> Iterator[CampaignRow]:
    values = {name: field.strip() for name, field in zip(columns, fields, strict=False)}
    key = values.get("key") or str(number)
    if _undecodable(key):
        key = str(number)
    if not in_shard(key, shard):
        return
    if len(fields) > len(columns):
        yield CampaignRow(number=number, key=key, problem=f"{len(fields)} fields, but the header names {len(columns)}")
        return
    bad = [name for name, value in values.items() if _undecodable(value)]
    if bad:
        yield CampaignRow(
            number=number,
            key=key,
            problem=f"undecodable bytes in {', '.join(bad)} (the file must be UTF-8)",
        )
        return
    try:
        spec = build(key, values)
    except ValidationError as exc:
        yield CampaignRow(number=number, key=key, problem=str(exc))
        return
    yield CampaignRow(number=number, key=key, spec=spec, tz=values.get("tz") or None)


def _required(values: dict[str, str], name: str) -> str:
    value = values.get(name, "")
    if not value:
        raise ValidationError(name, "missing value")
    return value


def _optional(values: dict[str, str], name: str) -> str | None:
    return values.get(name) or None


def _int(values: dict[str, str], name: str) -> int | None:
    value = _optional(values, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError(name, f"must be an integer, got {value!r}") from None


def _telecmi_spec(key: str, values: dict[str, str]) -> Dial:
    to = _required(values, "to")
    from_ = _required(values, "from")
    phone_number("to", to)
    phone_number("from", from_)
    file_name, file_url = _optional(values, "file_name"), _optional(values, "file_url")
    Play(file_name=file_name, file_url=file_url)  # validates: exactly one, a known audio type / URL
    region = _optional(values, "region") or "global"
    if region not in ("global", "ind"):
        raise ValidationError("region", f'must be "global" or "ind", got {region!r}')
    extra: Any = None
    raw_extra = _optional(values, "extra_params")
    if raw_extra is not None:
        try:
            extra = json.loads(raw_extra)
        except ValueError as exc:
            raise ValidationError("extra_params", f"must be a JSON object ({exc})") from None
        if not isinstance(extra, dict):
            raise ValidationError("extra_params", "must be a JSON object")
    spec = Dial(key=key, from_=from_, to=to, file_name=file_name, file_url=file_url, region=region, extra_params=extra)
    spec.body()  # the spec's own checks (the key in extra_params too), reported with the row number
    return spec


def _huawei_spec(key: str, values: dict[str, str]) -> Notify:
    called = _required(values, "called")
    params = _optional(values, "template_params")
    prompt = Prompt(
        voice_id=_optional(values, "voice_id"),
        voice_file_name=_optional(values, "voice_file_name"),
        template_id=_optional(values, "template_id"),
        template_params=params.split("|") if params is not None else None,
    )
    play_times = _int(values, "play_times")
    priority = _int(values, "priority")
    if play_times is not None:
        check_int_range("play_times", play_times, 1, 5)
    spec = Notify(
        key=key,
        called=called,
        play_list=[prompt],
        callback_url=_optional(values, "callback_url"),
        caller_present=_optional(values, "caller_present"),
        play_times=play_times,
        priority=priority,
    )
    spec.body()  # the spec's own checks, so that a bad row is reported now, with its row number
    return spec


def dialed_number(spec: Dial | Notify | None) -> str | None:
    """The number a spec dials, as the vendor's records show it (TeleCMI: digits only; Huawei:
    ``called`` as given), or None (no spec, or not a number)."""
    if isinstance(spec, Notify):
        return spec.called.strip() if isinstance(spec.called, str) else None
    if isinstance(spec, Dial):
        try:
            return str(phone_number("to", spec.to))
        except ValidationError:
            return None
    return None


# A campaign row's spec as the journal stores it, by the one converter: the field names (``from``
# for `from_`), every field written, None as null, in the order earlier versions wrote them (the
# stored text is compared and must stay as it was). A Dial's flow and campaign are not part of it:
# a row plays a file, and the journal sets the campaign when it hands the row out.
wire(
    Dial,
    rename={"from_": "from"},
    omit_none=False,
    omit=("pcmo", "campaign"),
    # Numbers and extra_params are stored as the row gave them (text or number, object or text).
    hooks={"from_": AS_GIVEN, "to": AS_GIVEN, "extra_params": AS_GIVEN},
    detailed_errors=False,
)
# In the journal a prompt keeps its Python names and its nulls (the vendor's body names it otherwise).
_stored_prompt = make_dict_unstructure_fn(Prompt, converter)
_read_prompt = make_dict_structure_fn(Prompt, converter, _cattrs_detailed_validation=False)


def _stored_prompts(play_list: Sequence[Prompt]) -> list[dict[str, Any]]:
    return [_stored_prompt(prompt) for prompt in play_list]


def _read_prompts(items: Sequence[Any], _: object) -> list[Prompt]:
    return [_read_prompt(item, Prompt) for item in items]


wire(
    Notify,
    omit_none=False,
    hooks={"priority": AS_GIVEN, "play_list": (_stored_prompts, _read_prompts)},
    detailed_errors=False,
)
_stored_notify = converter.get_unstructure_hook(Notify)


def _stored_notify_play_list_last(spec: Notify) -> dict[str, Any]:
    stored: dict[str, Any] = _stored_notify(spec)
    stored["play_list"] = stored.pop("play_list")  # where earlier versions wrote it
    return stored


converter.register_unstructure_hook(Notify, _stored_notify_play_list_last)


def spec_to_json(spec: Dial | Notify) -> str:
    """A campaign row's spec as JSON, so that a shared journal can hand the row to any worker."""
    return json.dumps(converter.unstructure(spec))


def spec_from_json(vendor: Vendor, text: str) -> Dial | Notify:
    """The spec `spec_to_json` wrote."""
    stored = json.loads(text)
    if vendor == "telecmi":
        return converter.structure(stored, Dial)
    return converter.structure(stored, Notify)
