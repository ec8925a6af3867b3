# STAND-IN for the Phoenix release of inventory-tracker in the NixOS VM test.
#
# Packages fixtures/sandbox/app/inventory_app.py (stdlib HTTP + psycopg 3, the same
# stand-in the sandbox runs) behind the CLI that `mix release` generates, so the
# service module runs it with its defaults:
#   bin/inventory_tracker start                                  -> serve
#   bin/inventory_tracker eval InventoryTracker.Release.migrate  -> migrate
#   bin/inventory_tracker version                                -> version (the certificate's app_version)
{ writeShellScriptBin, python3 }:
let
  python = python3.withPackages (ps: [ ps.psycopg ]);
  app = ../../fixtures/sandbox/app/inventory_app.py;
in
writeShellScriptBin "inventory_tracker" ''
  # STAND-IN for the Phoenix release (see nixos/pkgs/standin-app.nix).
  case "''${1:-}" in
    start) exec ${python}/bin/python3 ${app} serve ;;
    version) exec ${python}/bin/python3 ${app} version ;;
    eval)
      case "''${2:-}" in
        *migrate*) exec ${python}/bin/python3 ${app} migrate ;;
        *) echo "stand-in: only 'eval InventoryTracker.Release.migrate' is supported" >&2; exit 64 ;;
      esac ;;
    *) echo "usage: inventory_tracker start | version | eval InventoryTracker.Release.migrate" >&2; exit 64 ;;
  esac
''
