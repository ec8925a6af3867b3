"""The harness's pytest plugin: markers, options, environment selection, certificate."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from harness import interrupt
from harness.certificate import (CheckResult, build_certificate, certifiable, environment_copy, remove_certificate,
                                 span_seconds, time_to_certificate, write_certificate)
from harness.errors import HarnessError
from harness.logblock import STAGE_TIMES, StageTime, utc_iso
from harness.options import ENVIRONMENTS, RunOptions
from harness.record import RunRecord
from harness.plugin.environment import select_environment
from harness.plugin.run_report import failure_reason, write_dr_report, write_run_reports
from harness.redaction import install_log_redaction, redact
from harness.spec import REPO_ROOT
from harness.terraform import terraform_binary, validate_tfvars

MARKERS = {
    "sandbox": "certification check that applies to the sandbox (this machine, no cloud account)",
    "staging": "certification check that applies to the staging AWS account",
    "production": "certification check that applies to production (read-only)",
    "dr": "disaster-recovery drill (nightly)",
    "nixos": "NixOS VM tests of the flake, built through nix",
}
# nixos items are builds of the flake, not checks of a deployment: they never make a certificate.
# The drill (dr) writes its own certificate (certificate-dr.json), not the certification's.
CERTIFICATION_MARKERS = frozenset(MARKERS) - {"nixos", "dr"}

OPTIONS = pytest.StashKey[RunOptions]()
RESULTS = pytest.StashKey[dict[str, CheckResult]]()
# The run record (harness/record.py): the stage fixtures fill it in through the `run_record` fixture.
RUN_RECORD = pytest.StashKey[RunRecord]()

# The user property of a check that ran in its own thread (harness/plugin/concurrent_checks.py): its own
# (started, ended) epoch seconds, recorded instead of its test's wait for the thread.
CONCURRENT_TIMES = "concurrent_check_times"
CONCURRENT_MARKER = "concurrent"  # harness/plugin/concurrent_checks.py

STAGE_FIXTURES = frozenset({"aws", "infra_apply", "infra", "instance", "host", "ssh", "deployment", "host_configured"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "deployment certification")
    group.addoption("--env", dest="harness_env", default=None,
                    help=f"environment to certify: {', '.join(ENVIRONMENTS)} (default: from -m, else sandbox)")
    group.addoption("--policy", dest="harness_policy", default=None,
                    help="security policy to certify against (default: the environment's own)")
    group.addoption("--aws-endpoint", dest="harness_aws_endpoint", default=None,
                    help="AWS API endpoint to use instead of starting moto (e.g. LocalStack)")
    group.addoption("--keep", dest="harness_keep", action="store_true",
                    help="leave the deployment running; prints how to reuse or destroy it")
    group.addoption("--reuse", dest="harness_reuse", default=None, metavar="RUN_ID",
                    help="certify a deployment kept by an earlier --keep run")
    group.addoption("--terraform-dir", dest="harness_terraform_dir", default=str(REPO_ROOT / "terraform"),
                    help="the Terraform configuration to apply (default: terraform/)")
    group.addoption("--tfvars", dest="harness_tfvars", default=None,
                    help="variables file (default: <terraform-dir>/<environment>.tfvars)")
    group.addoption("--runs-dir", dest="harness_runs_dir", default=str(REPO_ROOT / "runs"),
                    help="where runs keep their state (default: runs/)")
    group.addoption("--reports-dir", dest="harness_reports_dir", default=str(REPO_ROOT / "reports"),
                    help="where the certificate and JUnit XML go (default: reports/)")
    group.addoption("--allow-production-apply", dest="harness_allow_production_apply", action="store_true",
                    help="allow terraform apply to production (needs a staging certificate for the commit)")
    group.addoption("--signing-key", dest="harness_signing_key", default=None, metavar="PATH",
                    help="SSH key that signs staging/production certificates, listed in "
                         "certification/allowed_signers (default: $INVENTORY_TRACKER_SIGNING_KEY; "
                         "the sandbox signs with its own key)")
    group.addoption("--cloud", dest="harness_cloud", default=None, choices=("aws", "sandbox"),
                    help="where staging/production run: aws (default) or sandbox, the long-lived sandbox cloud "
                         "that `make cloud-up` starts")
    group.addoption("--operator-key", dest="harness_operator_key", default=None, metavar="PATH",
                    help="staging/production on AWS: the operators' SSH key (private, or .pub with the private "
                         "half in the ssh-agent; default $INVENTORY_TRACKER_OPERATOR_KEY, else the ssh-agent's)")


def _options(config: pytest.Config, environment: str) -> RunOptions:
    from harness.sandbox.container import disk_choice
    from harness.target_cloud import choose_cloud

    terraform_dir = Path(config.option.harness_terraform_dir).resolve()
    tfvars = config.option.harness_tfvars
    policy = config.option.harness_policy or environment
    if policy not in ENVIRONMENTS:
        raise HarnessError(f"unknown policy {policy!r}; use --policy with one of {', '.join(ENVIRONMENTS)}")
    disk_choice()  # a mistyped HARNESS_INSTANCE_DISK stops the run before anything is created
    return RunOptions(
        environment=environment,
        policy=policy,
        keep=bool(config.option.harness_keep),
        reuse=config.option.harness_reuse,
        aws_endpoint=config.option.harness_aws_endpoint,
        terraform_dir=terraform_dir,
        tfvars=Path(tfvars).resolve() if tfvars else terraform_dir / f"{environment}.tfvars",
        runs_dir=Path(config.option.harness_runs_dir).resolve(),
        reports_dir=Path(config.option.harness_reports_dir).resolve(),
        allow_production_apply=bool(config.option.harness_allow_production_apply),
        signing_key=Path(config.option.harness_signing_key) if config.option.harness_signing_key else None,
        cloud=choose_cloud(environment, config.option.harness_cloud),
        operator_key=Path(config.option.harness_operator_key) if config.option.harness_operator_key else None,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        environment = select_environment(config.option.markexpr, config.option.harness_env)
        config.stash[OPTIONS] = _options(config, environment)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    if getattr(config.option, "xmlpath", None) is None and not hasattr(config, "workerinput"):
        config.option.xmlpath = str(config.stash[OPTIONS].reports_dir / "junit.xml")
    config.stash[RESULTS] = {}
    config.pluginmanager.register(OutcomeRecorder(config.stash[RESULTS]), "harness-outcome-recorder")
    config.stash[RUN_RECORD] = RunRecord()
    install_log_redaction()
    # Terraform's and paramiko's line-by-line chatter stays out of the live log.
    for noisy in ("tftest", "paramiko", "botocore", "urllib3", "testinfra"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    interrupt.install()


def is_certification_check(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in CERTIFICATION_MARKERS)


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: judge what will really run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without -m, a run certifies its environment: other environments' checks are deselected."""
    options = config.stash[OPTIONS]
    record = config.stash[RUN_RECORD]
    if not config.option.markexpr:
        keep, drop = [], []
        for item in items:
            marked = any(item.get_closest_marker(name) for name in MARKERS)
            (drop if marked and not item.get_closest_marker(options.environment) else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    record.certification_run = any(is_certification_check(item) for item in items)
    record.selection = selection_of(config)
    if record.certification_run:
        items.sort(key=run_order)
        record.apply_starts_with_session = any("infra_apply" in getattr(item, "fixturenames", ()) for item in items)
    if any(STAGE_FIXTURES & set(getattr(item, "fixturenames", ())) for item in items):
        try:
            preflight(options, certifying=record.certification_run)
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None


def run_order(item: pytest.Item) -> int:
    """Where a check runs in a certification: the checks of the deployment that run in the test loop first, then
    those that need no deployment (terraform/ itself), then those that ran in threads of their own.

    The static checks' tools run in the background from the start (harness/plugin/static_checks.py), beside the
    apply started with the session (fixtures/stage_infra.py), so that the stage chain waits for nothing of
    theirs. A ``concurrent`` check's test only waits for its thread (harness/plugin/concurrent_checks.py):
    last, so that the loop runs every other check while the threads work instead of waiting on one of them.
    """
    if item.get_closest_marker(CONCURRENT_MARKER):
        return 2
    return 0 if STAGE_FIXTURES & set(getattr(item, "fixturenames", ())) else 1


def selection_of(config: pytest.Config) -> str:
    """``complete`` when every check of the environment runs; ``partial`` when paths, ``-k``, ``--deselect``
    or a marker expression beyond the environment's name chose only some (the production gate refuses those)."""
    default_paths = {str(REPO_ROOT / "suites"), str(REPO_ROOT)}
    chosen = {str(Path(arg.split("::")[0]).resolve()) for arg in config.args}
    markexpr = (config.option.markexpr or "").strip()
    narrowed = (config.option.keyword or getattr(config.option, "deselect", None)
                or (markexpr and markexpr not in ENVIRONMENTS))
    return "complete" if chosen <= default_paths and not narrowed else "partial"


def preflight(options: RunOptions, certifying: bool = True) -> None:
    """Check the inputs before anything is created, so bad input leaks nothing.

    ``certifying``: the run may write a certificate, so it needs its signing key (not the drill).
    """
    if options.reuse:
        return
    terraform_binary()
    validate_tfvars(options.tfvars)
    from harness.certificate_publish import signing_key_for, stores_for
    from harness.target_cloud import allowed_signers, operator_keypair, require_remote_state

    operator_keypair(options)  # staging/production: the environment's one key, readable (and the sandbox cloud up)
    require_remote_state(options)
    if options.cloud == "aws" and not options.aws_endpoint:
        from harness.runner_address import require_in_ssh_range, runner_public_address, ssh_allowed_cidrs

        require_in_ssh_range(runner_public_address(), ssh_allowed_cidrs(options.tfvars), options.tfvars)
    if certifying:
        signing_key_for(options)  # staging/production on AWS: a named, allowed key that is not the sandbox's
    if options.environment == "production" and options.allow_production_apply:
        from harness.gate import require_staging_certificate

        # the state bucket (remote state is required)
        require_staging_certificate(stores_for(options)[-1], allowed_signers(options))


class OutcomeRecorder:
    """Records each certification check's outcome (the first failure of any phase wins)."""

    def __init__(self, results: dict[str, CheckResult]):
        self.results = results
        self.window: list[float] = []  # epoch seconds: the first check's start, the last one's end

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not any(name in report.keywords for name in CERTIFICATION_MARKERS):
            return
        own = dict(report.user_properties).get(CONCURRENT_TIMES)  # a concurrent check: its thread's time, not the wait
        if report.when == "call":
            start, stop = own if own else (report.start, report.stop)
            self.window = [min(self.window[0], start), max(self.window[1], stop)] if self.window else [start, stop]
        if report.failed:
            outcome = "failed" if report.when == "call" else "error"
        else:
            outcome = "skipped" if report.skipped else "passed"
        if report.when != "call" and outcome == "passed":
            return
        previous = self.results.get(report.nodeid)
        if previous is None or previous.outcome == "passed":
            seconds = ((own[1] - own[0] if own else report.duration) if report.when == "call"
                       else (previous.seconds if previous else 0.0))
            message = "" if outcome == "passed" else check_message(report)
            self.results[report.nodeid] = CheckResult(report.nodeid, outcome, round(seconds, 3), message)


MESSAGE_LIMIT = 2000  # characters of a failure message kept for the certificate and the report


def check_message(report: pytest.TestReport) -> str:
    """A failed or skipped check's reason: the assertion's message (redacted, shortened), not the traceback."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        text = str(longrepr[2])
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = crash.message if crash is not None else str(longrepr or "")
    text = redact(text.strip())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " …"


def timeline_records(stages: list[StageTime], recorder: Optional[OutcomeRecorder]) -> list[StageTime]:
    """The stage and teardown records with the checks' span (kind ``checks``) between them, in time order."""
    if recorder is not None and recorder.window:
        start, stop = recorder.window
        checks = StageTime("checks", round(stop - start, 2), utc_iso(start), utc_iso(stop), "checks")
        stages = sorted([*stages, checks], key=lambda record: record.started_at)
    return stages


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[RUN_RECORD].started = time.monotonic()
    session.config.stash[RUN_RECORD].started_epoch = time.time()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
    """The last item's teardown tears the session's fixtures down (destroy, container, moto): a signal from
    here on waits for all of it (harness/interrupt.py)."""
    if nextitem is None:
        interrupt.defer_during_teardown()


# trylast: after the session fixtures' teardown (destroy, container removal), whose errors count too.
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if interrupt.deferred():  # a signal during the teardown, which went on to its end
        exitstatus = session.exitstatus = pytest.ExitCode.INTERRUPTED
    options = config.stash[OPTIONS]
    checks = list(config.stash[RESULTS].values())
    record = config.stash[RUN_RECORD]
    if not record.certification_run or config.option.collectonly:
        return  # not a certification run (the project's own tests, or only listing)
    record.finish()
    # A certificate certifies a deployment: the stage chain must have run (a run id exists).
    certified = bool(exitstatus == 0 and certifiable(checks) and record.run_id)
    timeline = timeline_records(list(STAGE_TIMES), config.pluginmanager.get_plugin("harness-outcome-recorder"))
    record.time_to_certificate = time_to_certificate(timeline, record.started_epoch)
    document = build_certificate(
        environment=options.environment,
        run_id=record.run_id or "",
        checks=checks,
        stages=timeline,
        resources=record.resources,
        extra={
            "policy": options.policy,
            "selection": record.selection,
            "run_seconds": record.run_seconds,  # the whole run: set-up, checks and teardown
            **record.deployed,  # instance_id, ami, security_group_rules, host_system, app_version
            "time_to_certificate_seconds": record.time_to_certificate,
            "cloud": options.cloud or "sandbox (its own, per run)",
            **({"not_probed": record.not_probed} if record.not_probed else {}),
        },
        certified=certified,
    )
    if record.switch is not None:
        document["switch"] = record.switch.stated()  # previous generation, base backup, /health during the switch
    if not certified and record.switch is not None and exitstatus != pytest.ExitCode.INTERRUPTED:
        document["rollback"] = record.rollback = roll_back_production(options, record, checks)
    if certified:
        record.certificate_path = write_certificate(options.reports_dir, document)
        session.exitstatus = sign_and_store_certificate(options, record, document)
    else:
        document["failure"] = {"exit_status": int(exitstatus),
                               "reason": failure_reason(checks, record.run_id, int(exitstatus))}
        remove_certificate(options.reports_dir)  # an old certificate must not outlive a failed run
        if record.run_id:
            revoke_failed_staging(options, record, document)
    record.report_paths = write_run_reports(options.reports_dir, document)
    if record.rollback is not None:  # the failed switch's result and the rollback's, side by side
        import json

        path = options.reports_dir / "rollback-production.json"
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        record.report_paths.append(str(path))


def roll_back_production(options: RunOptions, record: RunRecord, checks: list[CheckResult]) -> dict[str, Any]:
    """A switched production failed its certification: roll it back and certify it again (harness/production_switch.py)."""
    from harness.production_switch import roll_back_and_recertify
    from harness.spec import load_spec

    failed = [check.id for check in checks if check.outcome in ("failed", "error")]
    return roll_back_and_recertify(options, record.switch, failed, load_spec())


def sign_and_store_certificate(options: RunOptions, record: RunRecord, document: dict[str, Any]) -> int:
    """Sign the written certificate and store it (reports/, the state bucket); the run's exit status."""
    from harness.certificate_publish import sign_and_store
    from harness.plugin.stages import HARNESS_ERROR_EXIT

    assert record.certificate_path is not None
    copy = environment_copy(options.reports_dir, options.environment)
    try:
        record.stored = sign_and_store(options, copy, [record.certificate_path], document.get("commit"))
    except HarnessError as exc:
        record.publish_problem = f"the certificate is NOT SIGNED or not stored: {exc}"
        return HARNESS_ERROR_EXIT
    return pytest.ExitCode.OK


def revoke_failed_staging(options: RunOptions, record: RunRecord, document: dict[str, Any]) -> None:
    """A failed staging run revokes the staging certificate of its commit (the gate reads the revocation)."""
    from harness.certificate_publish import revoke_staging

    try:
        record.revoked = revoke_staging(options, document.get("commit"), record.run_id or "",
                                        document["failure"]["reason"])
    except HarnessError as exc:
        record.publish_problem = f"could not revoke the staging certificate of {document.get('commit')}: {exc}"


def rollback_lines(rollback: dict[str, Any]) -> list[str]:
    """What the terminal says after a failed certification of a production switch."""
    lines = [f"production FAILED its certification after the switch: {', '.join(rollback['failed_checks']) or '(no check)'}"]
    if not rollback.get("rolled_back"):
        return lines + [f"production was NOT rolled back: {rollback.get('reason')}"]
    lines.append(f"production was rolled back to generation {rollback['rolled_back_to_generation']} and "
                 + ("re-certified: " + str(rollback.get("recertification_certificate")) if rollback.get("recertified")
                    else f"its re-certification FAILED too (exit {rollback.get('recertification_exit_status')})")
                 + f" ({rollback.get('seconds_to_recertified')} s from the failed certification)")
    return lines


def pytest_unconfigure(config: pytest.Config) -> None:
    """The drill's page, once every plugin has finished (the drill writes certificate-dr.json)."""
    record = config.stash.get(RUN_RECORD, None)
    if OPTIONS in config.stash and record is not None and record.started_epoch and not hasattr(config, "workerinput"):
        for path in write_dr_report(config.stash[OPTIONS].reports_dir, record.started_epoch):
            print(f"report page: {path}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if OPTIONS not in config.stash:
        return
    record = config.stash[RUN_RECORD]
    if STAGE_TIMES:
        terminalreporter.section("stage timings")
        for stage_time in STAGE_TIMES:
            label = stage_time.name if stage_time.kind == "stage" else f"{stage_time.kind} {stage_time.name}"
            terminalreporter.write_line(f"{label:<32} {stage_time.seconds:8.1f} s")
        teardown = span_seconds([t for t in STAGE_TIMES if t.kind == "teardown"])  # steps overlap: wall time
        if teardown:
            terminalreporter.write_line(f"{'teardown (all steps)':<32} {teardown:8.1f} s")
        if record.time_to_certificate is not None:
            terminalreporter.write_line(f"{'time to certificate':<32} {record.time_to_certificate:8.1f} s")
        if record.run_seconds is not None:
            terminalreporter.write_line(f"{'whole run (with teardown)':<32} {record.run_seconds:8.1f} s")
    if record.certificate_path is not None:
        partial = " (partial selection: not every check ran)" if record.selection == "partial" else ""
        terminalreporter.write_line(f"CERTIFIED{partial}: {record.certificate_path}", green=True, bold=True)
    elif record.certification_run and not config.option.collectonly:
        terminalreporter.write_line("NOT CERTIFIED: a check failed or did not run; no certificate written", red=True, bold=True)
    for where in record.stored:
        terminalreporter.write_line(f"signed and stored: {where}")
    for where in record.revoked:
        terminalreporter.write_line(f"this failed staging run revoked the certificate of its commit: {where}",
                                    yellow=True)
    if record.publish_problem:
        terminalreporter.write_line(record.publish_problem, red=True, bold=True)
    if record.rollback is not None:
        for line in rollback_lines(record.rollback):
            terminalreporter.write_line(line, red=not record.rollback.get("recertified"), yellow=True, bold=True)
    for path in record.report_paths:
        terminalreporter.write_line(f"report page: {path}")
    for line in record.kept_hints:
        terminalreporter.write_line(line, yellow=True)
