"""Cognito's rate quotas: the category each operation counts against, and each category's default quota.

AWS counts requests per account and Region, per category, each category on its own: a call of
one category never waits on another's quota. The defaults are AWS's; an account whose quotas AWS
raised overrides them by category (`cognito_quotas`). Change the tables when AWS changes its own.
"""

from __future__ import annotations

# Requests per second, per account and Region (AWS's defaults).
DEFAULT_QUOTAS: dict[str, float] = {
    "UserList": 30,
    "UserPoolRead": 15,
    "UserPoolResourceRead": 20,
    "UserPoolResourceUpdate": 15,
    "UserResourceUpdate": 25,
    "UserRead": 120,
    "UserCreation": 50,
    "UserPoolCreate": 5,
    "Other": 50,
}
OTHER = "Other"

CATEGORY_BY_OPERATION: dict[str, str] = {
    "ListUsers": "UserList",
    "ListUsersInGroup": "UserList",
    "DescribeUserPool": "UserPoolRead",
    "ListGroups": "UserPoolResourceRead",
    "GetGroup": "UserPoolResourceRead",
    "GetCSVHeader": "UserPoolResourceRead",
    "DescribeUserImportJob": "UserPoolResourceRead",
    "ListUserImportJobs": "UserPoolResourceRead",
    "CreateGroup": "UserPoolResourceUpdate",
    "UpdateGroup": "UserPoolResourceUpdate",
    "DeleteGroup": "UserPoolResourceUpdate",
    "CreateUserImportJob": "UserPoolResourceUpdate",
    "StartUserImportJob": "UserPoolResourceUpdate",
    "StopUserImportJob": "UserPoolResourceUpdate",
    "AdminAddUserToGroup": "UserResourceUpdate",
    "AdminRemoveUserFromGroup": "UserResourceUpdate",
    "AdminDisableUser": "UserResourceUpdate",
    "AdminEnableUser": "UserResourceUpdate",
    "AdminSetUserPassword": "UserResourceUpdate",
    "AdminResetUserPassword": "UserResourceUpdate",
    "AdminUpdateUserAttributes": "UserResourceUpdate",
    "AdminDeleteUser": "UserResourceUpdate",
    "AdminGetUser": "UserRead",
    "AdminListGroupsForUser": "UserRead",
    "AdminCreateUser": "UserCreation",
    "CreateUserPool": "UserPoolCreate",
    "DeleteUserPool": "UserPoolCreate",
    "UpdateUserPool": "UserPoolCreate",
}

CATEGORIES: tuple[str, ...] = tuple(DEFAULT_QUOTAS)


def category_of(operation: str) -> str:
    """The quota category of a Cognito operation (e.g. ``ListUsers``)."""
    return CATEGORY_BY_OPERATION.get(operation, OTHER)
