# One stub derivation: `script` runs with /bin/sh (the machine's tools on PATH,
# as builds here run without the Nix sandbox) and must create $out.
name: script: derivation {
  inherit name;
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" script ];
  PATH = "/usr/bin:/bin";
}
