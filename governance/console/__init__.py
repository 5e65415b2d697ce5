"""The staff console's domain: accounts, sessions, role scope, audit log, queue and exports."""
