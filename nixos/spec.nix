# The declared specification (spec.json at the repository root), as Nix values.
# Terraform (jsondecode) and the harness (harness.spec) read the same file.
builtins.fromJSON (builtins.readFile ../spec.json)
