"""Cognito user import CSV files, built from `GetCSVHeader`.

The format (reference.md section 3): the header is exactly what `GetCSVHeader` returns, every
column present; values unquoted, a comma inside a value written `\\,`; `cognito:username` is
the user's pseudoUsername (what they sign in with) and unique; `cognito:mfa_enabled` is
`true`/`false`, never empty; when the pool auto-verifies, each user needs one of those
attributes marked verified; UTF-8 without BOM; at most 500,000 users and under 100 MB a file.

A user whose values this format cannot carry safely is left out, with the reason, and is
restored through `AdminCreateUser` instead (see `admin_users`). Users are split into files
by a stable bucket of their sub, so each file's users can be found again by any worker.
"""

from __future__ import annotations

import os
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from cognito_backup import items
from cognito_backup.hooks.backup_table import BackupTableHook
from cognito_backup.restore.admin_users import NOT_WRITABLE, legacy_value
from cognito_backup.restore.parallel import scan_parallel

MFA_COLUMN = "cognito:mfa_enabled"
USERNAME_COLUMN = "cognito:username"
# Standard columns in the order GetCSVHeader lists them (used only to plan a pool not yet created).
STANDARD_COLUMNS = (
    "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
    "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
    "phone_number", "phone_number_verified", "address", "updated_at",
)
VERIFIED_COLUMNS = ("email_verified", "phone_number_verified")

MAX_USERS_PER_FILE = 500_000
MAX_BYTES_PER_FILE = 100 * 1024 * 1024 - 1  # "under 100 MB"
BUCKETS = 4096

# Why a user is left out of the CSV files (then created through AdminCreateUser).
UNCONFIRMED = "unconfirmed"
NOT_AUTO_VERIFIED = "no_auto_verified_attribute_verified"
NEWLINE = "newline_in_value"
BACKSLASH_COMMA = "backslash_before_comma"
BACKSLASH_END = "backslash_at_end_of_value"
NOT_IN_HEADER = "attribute_not_in_csv_header"
EMPTY_VALUE = "empty_value"
BAD_FLAG = "verified_flag_not_true_or_false"
EMPTY_USERNAME = "empty_username"


def bucket_of(sub: str) -> int:
    """A user's bucket, 0..4095: stable across runs and processes."""
    return zlib.crc32(sub.encode()) % BUCKETS


def planned_header(custom_attributes: Iterable[str]) -> list[str]:
    """The header a pool with these custom attributes would have (for a dry run of a new pool)."""
    return [*STANDARD_COLUMNS, *custom_attributes, MFA_COLUMN, USERNAME_COLUMN]


def escape(value: str) -> str:
    return value.replace(",", "\\,")


class CsvRules:
    """The lines of one target pool's CSV files.

    :param header: the target's `GetCSVHeader`.
    :param auto_verified: the target's `AutoVerifiedAttributes`.
    :param legacy_attribute: the legacy sub column, when the header has it.
    """

    def __init__(self, header: Sequence[str], auto_verified: Sequence[str],
                 legacy_attribute: str | None = None) -> None:
        self.header = list(header)
        self.columns = set(self.header)
        self.auto_verified = list(auto_verified)
        self.legacy_attribute = legacy_attribute if legacy_attribute in self.columns else None

    @property
    def header_line(self) -> str:
        return ",".join(escape(c) for c in self.header) + "\n"

    def problem(self, user: items.User) -> str | None:
        """Why `user` cannot go into a CSV file; None when it can."""
        if user.status == "UNCONFIRMED":
            return UNCONFIRMED
        if not user.pseudo_username:
            return EMPTY_USERNAME
        attrs = user.attribute_map
        for name, value in [*attrs.items(), (USERNAME_COLUMN, user.pseudo_username)]:
            if name in NOT_WRITABLE:
                continue
            if name != USERNAME_COLUMN and name not in self.columns:
                return NOT_IN_HEADER
            if value == "":
                return EMPTY_VALUE
            if "\n" in value or "\r" in value:
                return NEWLINE
            if "\\," in value:
                return BACKSLASH_COMMA
            if value.endswith("\\"):
                return BACKSLASH_END
        for flag in VERIFIED_COLUMNS:
            if flag in attrs and attrs[flag] not in ("true", "false"):
                return BAD_FLAG
        if self.auto_verified and not any(attrs.get(f"{a}_verified") == "true" for a in self.auto_verified):
            return NOT_AUTO_VERIFIED
        return None

    def line(self, user: items.User) -> str:
        """The user's CSV line (with its newline). Call only when `problem(user)` is None."""
        attrs = {n: v for n, v in user.attributes if n not in NOT_WRITABLE}
        if self.legacy_attribute:
            attrs[self.legacy_attribute] = legacy_value(user, self.legacy_attribute)
        attrs[MFA_COLUMN] = "false"  # second factors are not exported: users enrol again
        attrs[USERNAME_COLUMN] = user.pseudo_username
        return ",".join(escape(attrs.get(column, "")) for column in self.header) + "\n"


def pack_parts(stats: dict[int, tuple[int, int]], header_bytes: int,
               max_users: int = MAX_USERS_PER_FILE, max_bytes: int = MAX_BYTES_PER_FILE) -> list[list[int]]:
    """Consecutive bucket ranges `[first, last]`, each one file within the limits.

    :param stats: bucket -> (users, bytes of their lines).
    """
    parts: list[list[int]] = []
    first = None
    users = size = 0
    for bucket in range(BUCKETS):
        n, b = stats.get(bucket, (0, 0))
        if first is not None and (users + n > max_users or header_bytes + size + b > max_bytes):
            parts.append([first, bucket - 1])
            first, users, size = None, 0, 0
        if n:
            if first is None:
                first = bucket
            users += n
            size += b
        if n > max_users or header_bytes + b > max_bytes:
            raise ValueError(f"bucket {bucket} alone exceeds the CSV file limits")
    if first is not None:
        parts.append([first, BUCKETS - 1])
    return parts


class CsvFileTooLarge(ValueError):
    """A CSV file would break Cognito's limits."""


class CsvFile:
    """A CSV file being written to a temporary file; `path` once closed. Counts, never logs, lines."""

    def __init__(self, rules: CsvRules, directory: str | None = None) -> None:
        self.rules = rules
        fd, self.path = tempfile.mkstemp(prefix="cognito-import-", suffix=".csv", dir=directory)
        # UTF-8 without BOM, "\n" line ends.
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self.users = 0
        self.bytes = 0
        self._write(rules.header_line)

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        if self.bytes + len(data) > MAX_BYTES_PER_FILE:
            raise CsvFileTooLarge("the CSV file would reach 100 MB")
        self._file.write(data)
        self.bytes += len(data)

    def add(self, user: items.User) -> None:
        if self.users >= MAX_USERS_PER_FILE:
            raise CsvFileTooLarge(f"the CSV file would hold more than {MAX_USERS_PER_FILE} users")
        self._write(self.rules.line(user))
        self.users += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def remove(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


@dataclass
class CsvPlan:
    """What the CSV files of a restore will hold: counts only."""

    users: int = 0
    disabled: int = 0
    eligible: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    parts: list[list[int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "users": self.users, "disabled": self.disabled, "eligible": self.eligible, "parts": self.parts,
            "files": len(self.parts), "left_out": dict(self.left_out),
        }


def plan(table: BackupTableHook, rules: CsvRules, segments: int = 4) -> CsvPlan:
    """Scan the backup's users: which go into CSV files, which are left out and why, and the files."""
    result = CsvPlan()
    stats: dict[int, list[int]] = {}
    lock = threading.Lock()

    def note(item: dict[str, Any]) -> None:
        user = items.User.from_item(item)
        reason = rules.problem(user)
        size = 0 if reason else len(rules.line(user).encode("utf-8"))
        with lock:
            result.users += 1
            result.disabled += not user.enabled
            if reason:
                result.left_out[reason] += 1
                return
            result.eligible += 1
            entry = stats.setdefault(bucket_of(user.sub), [0, 0])
            entry[0] += 1
            entry[1] += size

    scan_parallel(table, items.USER, note, segments)
    result.parts = pack_parts({b: (n, size) for b, (n, size) in stats.items()}, len(rules.header_line.encode("utf-8")))
    return result
