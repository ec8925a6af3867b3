# A stub of the few nixpkgs `lib` functions the modules in nixos/ use, so that
# their values can be evaluated here, where nixpkgs cannot be fetched. Not the
# module system: option declarations become { _type = "option"; ... } records,
# mkIf/mkForce/mkDefault wrappers that eval-modules.nix unwraps.
let
  option = attrs: attrs // { _type = "option"; };
  type = name: { inherit name; };
in
{
  mkOption = option;
  mkEnableOption = description: option { default = false; inherit description; type = type "bool"; };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkForce = content: { _type = "override"; priority = 50; inherit content; };
  mkDefault = content: { _type = "override"; priority = 1000; inherit content; };
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  hasPrefix = prefix: string: builtins.substring 0 (builtins.stringLength prefix) string == prefix;
  removePrefix = prefix: string:
    let n = builtins.stringLength prefix;
    in if builtins.substring 0 n string == prefix
       then builtins.substring n (builtins.stringLength string - n) string
       else string;
  types = {
    str = type "str";
    bool = type "bool";
    port = type "port";
    package = type "package";
    listOf = t: type "listOf";
    nullOr = t: type "nullOr";
  };
}
