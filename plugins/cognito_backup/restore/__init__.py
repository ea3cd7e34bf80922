"""The import: restore a backup table's users, groups and memberships into a user pool."""
