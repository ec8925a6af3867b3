"""Certification: PostgreSQL is local only, the app role works, pg_hba has no trust, secrets stay secret."""
from __future__ import annotations

import pytest

from suites import db_checks


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_postgres_listens_on_localhost_only(deployment):
    """PostgreSQL's port listens on loopback addresses only (ss on the host)."""
    db_checks.check_postgres_listens_on_localhost_only(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_app_role_can_write_and_read(deployment):
    """The app role logs in over 127.0.0.1 with its password and writes and reads its database (rolled back)."""
    db_checks.check_app_role_reads_and_writes(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
@pytest.mark.concurrent
def test_postgres_refuses_outside_connections(deployment):
    """A TCP connection to PostgreSQL from this machine and from the internet does not get through."""
    db_checks.check_postgres_refuses_outside_connections(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_pg_hba_has_no_trust(deployment):
    """pg_hba_file_rules has no `trust` rule for host, hostssl or hostnossl connections."""
    db_checks.check_pg_hba_has_no_trust(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_secrets_file_is_private(deployment):
    """The secrets env file is mode 0600 and owned by the service user."""
    db_checks.check_secrets_file_private(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
@pytest.mark.concurrent
def test_secrets_not_in_journal(deployment):
    """No secret from the env file (the database password in particular) appears in the journal."""
    db_checks.check_secrets_not_in_journal(deployment)
