"""Wires the harness's pytest plugin: markers, options, environment selection, stages."""

pytest_plugins = [
    "harness.plugin.core",
    "harness.plugin.concurrent_checks",
    "harness.plugin.static_checks",
    "harness.plugin.nixos_checks",
    "harness.plugin.secret_reports",
    "fixtures.run",
    "fixtures.stage_aws",
    "fixtures.stage_infra",
    "fixtures.stage_instance",
    "fixtures.stage_host",
    "fixtures.deployment",
    "fixtures.stage_drill",
]
