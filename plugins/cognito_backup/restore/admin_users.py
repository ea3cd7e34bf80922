"""One backed-up user made a user of the target pool through the admin API.

`AdminCreateUser` (messages suppressed) -> `AdminSetUserPassword` (random, permanent) ->
`AdminResetUserPassword`: the user ends in `RESET_REQUIRED`, as a CSV import leaves it, and
must choose a new password at the next sign-in. Every step is safe to repeat: a user that
exists already is taken from wherever an earlier, interrupted run left it.
"""

from __future__ import annotations

import secrets
import string
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cognito_backup import items
from cognito_backup.restore.live_pool import epoch, made_by_this_run

if TYPE_CHECKING:
    from cognito_backup.hooks.cognito import CognitoHook

# Attributes Cognito sets itself: never written, never compared.
NOT_WRITABLE = frozenset({"sub", "identities"})
VERIFIED_FLAGS = ("email_verified", "phone_number_verified")

# Outcomes, counted per user by the operators (keys of their XCom counts).
CREATED = "created"
ALREADY_PRESENT = "already_present"
RESET_REFUSED = "reset_refused_no_verified_contact"

# Errors about one user that retrying cannot fix: counted, and the verification names the user.
PERMANENT_ERRORS = frozenset({
    "InvalidParameterException", "AliasExistsException", "InvalidPasswordException",
    "UserNotFoundException", "NotAuthorizedException", "UnsupportedUserStateException",
})


class CognitoCallError(RuntimeError):
    """A Cognito call failed. The message names the operation and error code only: the
    service's own message may contain a username."""

    def __init__(self, operation: str, err: ClientError) -> None:
        self.code = error_code(err)
        super().__init__(f"Cognito {operation} failed: {self.code}")


def error_code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "Unknown")


def has_verified_contact(attributes: dict[str, str]) -> bool:
    return any(attributes.get(flag) == "true" for flag in VERIFIED_FLAGS)


def legacy_value(user: items.User, legacy_attribute: str) -> str:
    """What the legacy sub attribute of the restored user holds: the sub from before the
    first restore (kept through restores of restores), else the backed-up sub."""
    return user.attribute_map.get(legacy_attribute) or user.sub


def writable_attributes(user: items.User, legacy_attribute: str | None) -> list[dict[str, str]]:
    attrs = [{"Name": n, "Value": v} for n, v in user.attributes if n not in NOT_WRITABLE and n != legacy_attribute]
    if legacy_attribute:
        attrs.append({"Name": legacy_attribute, "Value": legacy_value(user, legacy_attribute)})
    return attrs


def random_password(minimum_length: int = 8) -> str:
    """A password nobody knows that satisfies any Cognito password policy."""
    length = max(32, minimum_length)
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, "^$*.[]{}()?!@#%&/,><:;|_~`=+-"]
    chars = [secrets.choice(c) for c in classes]
    chars += [secrets.choice("".join(classes)) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class UserRestorer:
    """Creates users in one pool and moves them to `RESET_REQUIRED`; returns an outcome per user.

    :param cognito: a paced hook (its calls share the run's budget).
    :param legacy_attribute: the target's legacy sub attribute, or None when it has none.
    :param password_length: the pool's minimum password length.
    :param since: a restore into a live pool: when its run started (see `live_pool`).
    """

    def __init__(self, cognito: CognitoHook, user_pool_id: str, legacy_attribute: str | None,
                 password_length: int = 8, since: float | None = None) -> None:
        self.cognito = cognito
        self.user_pool_id = user_pool_id
        self.legacy_attribute = legacy_attribute or None
        self.password_length = password_length
        self.since = since

    def restore(self, user: items.User, present: dict[str, Any] | None = None) -> tuple[str, ...]:
        """Make `user` exist in `RESET_REQUIRED`. `present`: what a listing found, if it did (a user
        an earlier try of this restore made is finished; a live pool's own user is left as it is).

        Returns outcomes to count: how the user came to exist (`created`, `already_present`,
        `create_refused:<code>`), and what kept it from `RESET_REQUIRED`, if anything.
        """
        if present is not None:
            if not present.get("ours", True):
                return (ALREADY_PRESENT,)  # a live pool's own user: never touched
            return self._finish(user, present["status"], present["enabled"], ALREADY_PRESENT)
        try:
            self.cognito.admin_create_user(
                self.user_pool_id, user.pseudo_username, writable_attributes(user, self.legacy_attribute)
            )
        except ClientError as err:
            code = error_code(err)
            if code == "UsernameExistsException":
                found = self._get(user)
                if found is None:
                    return ("create_refused:UsernameExistsException",)
                status, enabled = found.get("UserStatus", ""), bool(found.get("Enabled", True))
                attributes = {a["Name"]: a.get("Value") for a in found.get("UserAttributes", [])}
                legacy = attributes.get(self.legacy_attribute) if self.legacy_attribute else None
                if not made_by_this_run(epoch(found.get("UserCreateDate")), status, legacy, self.since):
                    return (ALREADY_PRESENT,)  # made meanwhile by someone else, in a live pool: left as it is
                return self._finish(user, status, enabled, ALREADY_PRESENT)
            if code in PERMANENT_ERRORS:
                return (f"create_refused:{code}",)
            raise CognitoCallError("AdminCreateUser", err) from None
        return self._finish(user, "FORCE_CHANGE_PASSWORD", True, CREATED)

    def _get(self, user: items.User) -> dict[str, Any] | None:
        try:
            return self.cognito.admin_get_user(self.user_pool_id, user.pseudo_username)
        except ClientError as err:
            if error_code(err) == "UserNotFoundException":
                return None
            raise CognitoCallError("AdminGetUser", err) from None

    def _finish(self, user: items.User, status: str, enabled: bool, outcome: str) -> tuple[str, ...]:
        return (outcome, self._to_reset_required(user, status, enabled))

    def _to_reset_required(self, user: items.User, status: str, enabled: bool) -> str | None:
        """None once the user is in RESET_REQUIRED; else why not."""
        if status == "RESET_REQUIRED":
            return None
        if not enabled:
            # Disabled by an earlier run's last step: its password steps were done before.
            return None
        if status == "FORCE_CHANGE_PASSWORD":
            if self.since is not None and not has_verified_contact(user.attribute_map):
                # In a live pool a user with no verified contact stays as created, with a temporary
                # password nobody knows: CONFIRMED, it would look like a user who signed up again
                # (see `live_pool`). Either way only an administrator can let it sign in.
                return RESET_REFUSED
            try:
                self.cognito.admin_set_user_password(
                    self.user_pool_id, user.pseudo_username, random_password(self.password_length)
                )
            except ClientError as err:
                if error_code(err) in PERMANENT_ERRORS:
                    return f"set_password_refused:{error_code(err)}"
                raise CognitoCallError("AdminSetUserPassword", err) from None
            status = "CONFIRMED"
        if status == "CONFIRMED":
            if not has_verified_contact(user.attribute_map):
                # Cognito resets only users with a verified email or phone number: a call it
                # is sure to refuse would only spend budget. The user keeps a random password
                # nobody knows: an administrator must help them.
                return RESET_REFUSED
            try:
                self.cognito.admin_reset_user_password(self.user_pool_id, user.pseudo_username)
            except ClientError as err:
                code = error_code(err)
                if code in PERMANENT_ERRORS:
                    return f"reset_refused:{code}"
                raise CognitoCallError("AdminResetUserPassword", err) from None
            return None
        return f"unexpected_status:{status or 'none'}"
