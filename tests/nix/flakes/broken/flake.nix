# Fixture flake for the harness's own tests: parses, but its checks do not evaluate.
{
  description = "fixture: a flake whose checks do not evaluate";

  outputs = { self }: {
    checks = builtins.throw "FIXTURE-EVAL-ERROR: this flake's checks are broken on purpose";
  };
}
