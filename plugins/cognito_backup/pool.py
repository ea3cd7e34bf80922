"""What a user pool must be like to be backed up, and to be restored into.

The snapshot is the part of `DescribeUserPool` needed to recreate an equivalent pool; it holds
settings only, never user data.
"""

from __future__ import annotations

from typing import Any

SNAPSHOT_KEYS = (
    "SchemaAttributes",
    "UsernameAttributes",
    "AliasAttributes",
    "UsernameConfiguration",
    "AutoVerifiedAttributes",
    "MfaConfiguration",
    "Policies",
    "AccountRecoverySetting",
    "AdminCreateUserConfig",
    "UserAttributeUpdateSettings",
    "VerificationMessageTemplate",
    "DeletionProtection",
)


class PoolNotSupportedError(ValueError):
    """The pool cannot be backed up faithfully."""


def preflight_problems(pool: dict[str, Any]) -> list[str]:
    """Why a pool cannot be exported; empty when it can."""
    problems = []
    if len(pool.get("UsernameAttributes") or []) > 1:
        problems.append(
            "the pool lets users sign in with both email and phone number (UsernameAttributes "
            f"{pool['UsernameAttributes']}); a restore could not tell which one a user signed in with"
        )
    if pool.get("MfaConfiguration") == "ON":
        problems.append(
            "the pool requires MFA (MfaConfiguration ON); second factors cannot be exported and "
            "restored users could not sign in"
        )
    return problems


def snapshot(pool: dict[str, Any]) -> dict[str, Any]:
    """The settings of `DescribeUserPool`'s answer needed to recreate the pool."""
    return {key: pool[key] for key in SNAPSHOT_KEYS if key in pool}


def custom_attributes(schema: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["Name"]: a for a in schema if a["Name"].startswith("custom:")}


def create_pool_kwargs(snap: dict[str, Any], pool_name: str, legacy_sub_attribute: str | None) -> dict[str, Any]:
    """`CreateUserPool` arguments for a pool equivalent to the snapshot."""
    schema = []
    for attr in snap.get("SchemaAttributes", []):
        if attr["Name"] == "sub" or not (attr["Name"].startswith("custom:") or attr.get("Required")):
            continue
        entry = {k: v for k, v in attr.items() if k in (
            "AttributeDataType", "DeveloperOnlyAttribute", "Mutable", "Required",
            "NumberAttributeConstraints", "StringAttributeConstraints")}
        entry["Name"] = attr["Name"].removeprefix("custom:")
        schema.append(entry)
    names = {a["Name"] for a in snap.get("SchemaAttributes", [])}
    if legacy_sub_attribute and legacy_sub_attribute not in names:
        schema.append({
            "Name": legacy_sub_attribute.removeprefix("custom:"), "AttributeDataType": "String",
            "Mutable": True, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "64"},
        })
    kwargs: dict[str, Any] = {"PoolName": pool_name, "Schema": schema}
    for key in ("UsernameAttributes", "AliasAttributes", "UsernameConfiguration", "AutoVerifiedAttributes",
                "Policies", "AccountRecoverySetting", "AdminCreateUserConfig", "UserAttributeUpdateSettings",
                "VerificationMessageTemplate", "DeletionProtection"):
        if snap.get(key):
            kwargs[key] = snap[key]
    # MFA "OPTIONAL" needs an SMS or TOTP configuration the snapshot cannot carry; the
    # manifest says second factors must be re-enrolled, so the new pool starts with MFA off.
    kwargs["MfaConfiguration"] = "OFF"
    admin = kwargs.get("AdminCreateUserConfig")
    if admin:
        kwargs["AdminCreateUserConfig"] = {k: v for k, v in admin.items() if k != "UnusedAccountValidityDays"}
    return kwargs


def compatibility_problems(snap: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """How a target pool differs from the backed-up pool in ways that break a restore."""
    problems = []
    source_custom = custom_attributes(snap.get("SchemaAttributes", []))
    target_custom = custom_attributes(target.get("SchemaAttributes", []))
    for name in sorted(set(source_custom) - set(target_custom)):
        problems.append(f"custom attribute {name} is missing from the target pool")
    for name in sorted(set(source_custom) & set(target_custom)):
        if source_custom[name].get("AttributeDataType") != target_custom[name].get("AttributeDataType"):
            problems.append(f"custom attribute {name} has another data type in the target pool")
    if sorted(snap.get("UsernameAttributes") or []) != sorted(target.get("UsernameAttributes") or []):
        problems.append(
            f"username attributes differ: backup {snap.get('UsernameAttributes') or []}, "
            f"target {target.get('UsernameAttributes') or []}"
        )
    source_required = {a["Name"] for a in snap.get("SchemaAttributes", []) if a.get("Required")}
    for attr in target.get("SchemaAttributes", []):
        if attr.get("Required") and attr["Name"] not in source_required:
            problems.append(f"the target pool requires attribute {attr['Name']}, which the backup does not guarantee")
    case = lambda p: (p.get("UsernameConfiguration") or {}).get("CaseSensitive", True)  # noqa: E731
    if case(snap) != case(target):
        problems.append("username case sensitivity differs")
    return problems
