# The Phoenix release of inventory-tracker, built with nixpkgs' mixRelease.
#
# `src` is the Phoenix application (the directory with mix.exs). The Mix
# dependencies are a fixed-output derivation: build once with the fake hash,
# then put the hash Nix prints into `mixFodDepsHash` (flake.nix).
# The release must read BIND and PORT in config/runtime.exs
# (`http: [ip: BIND parsed as a tuple, port: PORT]`), as the service module sets them.
{ lib, beamPackages, src, version ? "0.1.0", mixFodDepsHash ? lib.fakeHash }:
beamPackages.mixRelease rec {
  pname = "inventory_tracker";
  inherit version src;

  mixFodDeps = beamPackages.fetchMixDeps {
    pname = "mix-deps-${pname}";
    inherit version src;
    hash = mixFodDepsHash;
  };

  # Static assets (esbuild/tailwind) are digested when the project has them.
  postBuild = ''
    if [ -d assets ] && mix help phx.digest >/dev/null 2>&1; then
      mix phx.digest --no-deps-check
    fi
  '';

  meta.description = "inventory-tracker Phoenix release";
}
