"""Cognito's user import CSV format: the header GetCSVHeader returns and the rules an
import job checks, per file and per line.

Format (as Cognito documents it): UTF-8 without BOM; the header is exactly the
GetCSVHeader list; values are unquoted, a comma inside a value is written ``\\,``, other
backslashes and double quotes are literal; an empty cell means "attribute absent".
"""

from __future__ import annotations

import dataclasses
import re

from moto.cognitoidp.models import CognitoIdpUserPool
from moto.cognitoidp.utils import validate_username_format

STANDARD_ATTRIBUTES = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
)
MFA_COLUMN = "cognito:mfa_enabled"
USERNAME_COLUMN = "cognito:username"
BOOLEAN_ATTRIBUTES = ("email_verified", "phone_number_verified")

MAX_BYTES = 100 * 1024 * 1024
MAX_USERS = 500_000
_BOM = b"\xef\xbb\xbf"
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_PHONE = re.compile(r"^\+[0-9]{1,15}$")
_INTEGER = re.compile(r"^-?[0-9]+$")


class FileError(Exception):
    """The whole file is unusable: the job fails."""


class LineError(Exception):
    """One line is unusable: it counts as a failed user and the job goes on."""


def csv_header(pool: CognitoIdpUserPool) -> list[str]:
    custom = [name for name in pool.schema_attributes if name.startswith("custom:")]
    return [*STANDARD_ATTRIBUTES, *custom, MFA_COLUMN, USERNAME_COLUMN]


def split_line(line: str) -> list[str]:
    return [cell.replace("\\,", ",") for cell in _UNESCAPED_COMMA.split(line)]


def read_file(data: bytes | None, header: list[str]) -> list[str]:
    """The data lines of an uploaded CSV, after the file-level checks."""
    if data is None:
        raise FileError("No CSV file was uploaded to the pre-signed URL.")
    if len(data) > MAX_BYTES:
        raise FileError("The CSV file is larger than 100 MB.")
    if data.startswith(_BOM):
        raise FileError("The CSV file must be UTF-8 without a byte order mark (BOM).")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileError(f"The CSV file is not valid UTF-8 (byte {error.start}).") from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise FileError("The CSV file is empty.")
    found = split_line(lines[0])
    if found != header:
        missing = [column for column in header if column not in found]
        unknown = [column for column in found if column not in header]
        if missing:
            raise FileError(f"The CSV header is missing columns: {', '.join(missing)}.")
        if unknown:
            raise FileError(f"The CSV header has unknown columns: {', '.join(unknown)}.")
        raise FileError("The CSV header does not match the header returned by GetCSVHeader.")
    if len(lines) - 1 > MAX_USERS:
        raise FileError(f"The CSV file has more than {MAX_USERS} users.")
    return lines[1:]


@dataclasses.dataclass
class CsvUser:
    username: str  # the cognito:username column: the sign-in value
    attributes: list[dict[str, str]]
    mfa_enabled: bool


class LineRules:
    """The per-line checks of one pool, which depend on its schema and settings."""

    def __init__(self, pool: CognitoIdpUserPool):
        self.header = csv_header(pool)
        self.auto_verified = list(pool.extended_config.get("AutoVerifiedAttributes") or [])
        self.username_attributes = list(pool.extended_config.get("UsernameAttributes") or [])
        self._schema = pool.schema_attributes

    def parse(self, line: str) -> CsvUser:
        cells = split_line(line)
        if len(cells) != len(self.header):
            raise LineError(f"Expected {len(self.header)} columns but found {len(cells)}.")
        row = dict(zip(self.header, cells))
        username = row[USERNAME_COLUMN]
        if not username:
            raise LineError("cognito:username is empty.")
        if row[MFA_COLUMN] not in ("true", "false"):
            raise LineError("cognito:mfa_enabled must be true or false.")
        for name in BOOLEAN_ATTRIBUTES:
            if row[name] not in ("", "true", "false"):
                raise LineError(f"{name} must be true or false.")
        if self.auto_verified and not any(row.get(f"{name}_verified") == "true" for name in self.auto_verified):
            raise LineError(
                "User does not set any of the auto verified attributes "
                f"({', '.join(name + '_verified' for name in self.auto_verified)} must be true)."
            )
        if self.username_attributes:
            self._check_sign_in_value(row, username)
        if row["phone_number"] and not _PHONE.match(row["phone_number"]):
            raise LineError("phone_number must be in E.164 format (+ and up to 15 digits).")
        if row["updated_at"] and not _INTEGER.match(row["updated_at"]):
            raise LineError("updated_at must be a number.")
        attributes = []
        for name in self.header[:-2]:
            if row[name]:
                self._check_schema(name, row[name])
                attributes.append({"Name": name, "Value": row[name]})
        return CsvUser(username, attributes, row[MFA_COLUMN] == "true")

    def username_cell(self, line: str) -> str | None:
        """The cognito:username of a line that failed before it was understood, if any."""
        cells = split_line(line)
        if len(cells) != len(self.header):
            return None
        return cells[-1] or None

    def _check_sign_in_value(self, row: dict[str, str], username: str) -> None:
        """In email / phone_number username pools, cognito:username is that attribute's value."""
        for name in self.username_attributes:
            if validate_username_format(username, _format=name):
                if row[name] and row[name] != username:
                    raise LineError(f"{name} does not match cognito:username.")
                row[name] = username
                return
        raise LineError(f"cognito:username must be a valid {' or '.join(self.username_attributes)}.")

    def _check_schema(self, name: str, value: str) -> None:
        attribute = self._schema.get(name)
        if attribute is None:
            return
        if attribute.data_type == "Number" and not _INTEGER.match(value):
            raise LineError(f"{name} must be a number.")
        constraints = attribute.string_constraints or {}
        maximum = constraints.get("MaxLength")
        if maximum and len(value) > int(maximum):
            raise LineError(f"{name} is longer than {maximum} characters.")
