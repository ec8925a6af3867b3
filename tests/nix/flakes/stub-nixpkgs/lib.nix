# The stub nixpkgs' lib: getName and nixosSystem (which checks the module list).
let
  drv = import ./drv.nix;
in
{
  getName = pkg: pkg.pname or pkg.name;
  removePrefix = prefix: string:
    let n = builtins.stringLength prefix;
    in if builtins.substring 0 n string == prefix
       then builtins.substring n (builtins.stringLength string - n) string
       else string;
  nixosSystem = { system, modules }:
    let
      missing = builtins.filter (m: builtins.isPath m && !builtins.pathExists m) modules;
      packageSet = builtins.filter (m: builtins.isAttrs m && m ? services) modules;
    in
    if missing != [ ] then throw "nixosSystem: missing modules: ${toString missing}"
    else if packageSet == [ ] then throw "nixosSystem: no module sets services.inventory-tracker.package"
    else {
      inherit modules;
      config.system.build.toplevel = drv "nixos-system-stub" "echo stub system > $out";
    };
}
