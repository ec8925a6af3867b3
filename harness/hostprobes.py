"""What testinfra cannot ask the host, in one place: commands that need data on stdin.

testinfra runs a command line and reads its output; it has no stdin. SQL with
psql variables, a password, or a secret to search for must not go on a command
line, so these few probes run over the same SSH connection through
:class:`harness.ssh.SshSession`, with a timeout. Every other host question goes
through testinfra (harness/hostinfra.py). None of these changes the host except
what the SQL itself does.
"""
from __future__ import annotations

import shlex
from typing import Any, Mapping, Optional


# Debian's psql, pg_restore and pg_isready are one Perl wrapper (pg_wrapper) that picks a PostgreSQL version: 30 ms
# of start-up on each of the 30-odd calls of a certification, beside the checks. This shell prefix sets ``$PG_BIN``
# to the newest installed version's own programs folder and a colon (the last in glob order), or to nothing where
# there is none (NixOS: psql is the program itself); ``PATH=$PG_BIN...`` then puts it first.
PG_BIN_FIRST = 'PG_BIN=; for d in /usr/lib/postgresql/*/bin; do [ -x "$d/psql" ] && PG_BIN=$d:; done; '


def psql_superuser(ssh: Any, database: str, sql: str, variables: Optional[Mapping[str, str]] = None) -> str:
    """Run ``sql`` (stdin) as the postgres superuser over the socket; unaligned, tuples only, '|' separated."""
    flags = " ".join(f"-v {shlex.quote(f'{k}={v}')}" for k, v in (variables or {}).items())
    command = (f"cd / && {PG_BIN_FIRST}PATH=$PG_BIN$PATH runuser -u postgres -- psql -X -q -At -F '|' -v ON_ERROR_STOP=1 {flags} "
               f"-d {shlex.quote(database)}")
    return ssh.sudo(command, stdin=sql.encode()).stdout


def psql_as_role(ssh: Any, *, role: str, database: str, port: int, password: str, sql: str,
                 timeout: float = 30) -> Any:
    """Run ``sql`` as ``role`` over 127.0.0.1 with its password; return the command result.

    The password reaches psql through PGPASSWORD read from the first line of stdin
    (never a command line); psql reads the script from the rest of stdin.
    """
    command = (
        f"IFS= read -r PGPASSWORD && export PGPASSWORD && {PG_BIN_FIRST}"
        f"PATH=$PG_BIN$PATH psql -X -q -At -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {shlex.quote(str(port))} "
        f"-U {shlex.quote(role)} -d {shlex.quote(database)} -f -"
    )
    return ssh.run(command, stdin=(password + "\n" + sql).encode(), check=False, timeout=timeout)


def journal_lines_containing(ssh: Any, value: str, selector: str = "") -> str:
    """How many journal lines (``journalctl -o cat`` + ``selector``) contain ``value``, as text ("0" when none).

    The value goes to a private temporary file through stdin, never on a command line.
    """
    command = (
        'umask 077 && f=$(mktemp) && cat > "$f" && '
        f'n=$(journalctl --no-pager -o cat {selector} | grep -cFf "$f"); rm -f "$f"; echo "${{n:-0}}"'
    )
    return ssh.sudo(command, stdin=value.encode(), check=False, timeout=60).stdout.strip()
