# NixOS VM test: boots nixos/configuration.nix with the stand-in application and
# checks, through the VMs, Nginx -> 127.0.0.1:4000, the app's health and inventory
# API, PostgreSQL access (SCRAM over loopback only), the firewall, sshd hardening,
# sshd's algorithms and Nginx's TLS protocols and ciphers (spec.json crypto),
# and that the backup service and timer exist. Needs nixpkgs and KVM: run with
# `nix flake check` or `pytest -m nixos` on a machine with Nix (see docs/nix.md).
{ pkgs, ... }:
let
  spec = import ../spec.nix;
  db = spec.database;
  port = toString spec.app.port;
  # Throwaway credentials of this test only. A test may put them in the Nix store;
  # a real host gets its secrets file from the deployment, never from Nix.
  password = "vm-test-password";
  # SCRAM-SHA-256 verifier of `password` (fixtures/sandbox/scram.py, salt "inventory-vmtest").
  verifier = "SCRAM-SHA-256$4096:aW52ZW50b3J5LXZtdGVzdA==$XvTeiypPyCfr6ga5iG7Ld7Q1ZDtD2AA+NCLntxI+sFY=:00Fos0qumG7G50dgz2LKPUuVelCpeCRA0pymPEg1Sg4=";
  databaseUrl = "postgresql://${db.role}:${password}@127.0.0.1:${toString db.port}/${db.name}";
in
pkgs.testers.runNixOSTest {
  name = "${spec.app.name}-host";

  nodes.machine = { pkgs, ... }: {
    imports = [ ../configuration.nix ];
    services.inventory-tracker.package = pkgs.callPackage ../pkgs/standin-app.nix { };
    # No S3 in the VM: the backup settings name a bucket nothing serves; the units must exist.
    environment.etc."${pkgs.lib.removePrefix "/etc/" spec.backup.env_file}".text = ''
      BACKUP_BUCKET=${spec.backup.bucket_prefix}-vmtest
      BARMAN_SERVER=${spec.backup.server_name}
      WAL_PREFIX=${spec.backup.wal_prefix}
      DUMP_PREFIX=${spec.backup.dump_prefix}
      DATABASE=${db.name}
    '';
    environment.etc."${pkgs.lib.removePrefix "/etc/" spec.app.env_file}" = {
      mode = "0600";
      user = spec.app.user;
      group = spec.app.user;
      text = ''
        DATABASE_URL='${databaseUrl}'
        DATABASE_PASSWORD_SCRAM='${verifier}'
        SECRET_KEY_BASE='vm-test-secret-key-base-vm-test-secret-key-base-vm-test-secret-key-base'
      '';
    };
    environment.systemPackages = [ pkgs.curl pkgs.iproute2 pkgs.openssl ];
    virtualisation.memorySize = 1536;
  };

  nodes.client = { pkgs, ... }: {
    environment.systemPackages = [ pkgs.curl pkgs.netcat ];
  };

  testScript = ''
    import json

    start_all()

    with subtest("the services start"):
        machine.wait_for_unit("postgresql.service")
        machine.wait_for_unit("${spec.app.name}-db-password.service")
        machine.wait_for_unit("${spec.app.name}.service")
        machine.wait_for_open_port(${port}, addr="${spec.app.bind}")
        machine.wait_for_unit("nginx.service")
        machine.wait_for_open_port(${toString spec.ports.http})
        machine.wait_for_open_port(${toString spec.ports.https})

    with subtest("the app listens on ${spec.app.bind}:${port} only"):
        listeners = machine.succeed("ss -ltnH 'sport = :${port}'")
        assert "${spec.app.bind}:${port}" in listeners, f"app listeners: {listeners!r}"
        assert "0.0.0.0:${port}" not in listeners and "*:${port}" not in listeners, listeners

    with subtest("the app is healthy (it answers only when the database does)"):
        machine.succeed("curl -fsS http://${spec.app.bind}:${port}${spec.app.health_path}")

    with subtest("Nginx proxies 80 and 443 to the app"):
        machine.succeed("curl -fsS http://127.0.0.1${spec.app.health_path}")
        machine.succeed("curl -fsSk https://127.0.0.1${spec.app.health_path}")
        created = json.loads(machine.succeed(
            "curl -fsS -X POST -H 'Content-Type: application/json' "
            "-d '{\"name\": \"vm-widget\", \"quantity\": 3}' http://127.0.0.1/items"
        ))
        assert created["name"] == "vm-widget", created
        items = machine.succeed("curl -fsS http://127.0.0.1/items")
        assert "vm-widget" in items, items

    with subtest("security headers; HSTS on HTTPS only"):
        http_headers = machine.succeed("curl -fsS -o /dev/null -D - http://127.0.0.1/").lower()
        https_headers = machine.succeed("curl -fsSk -o /dev/null -D - https://127.0.0.1/").lower()
        for header in ("x-content-type-options: nosniff", "x-frame-options: deny", "referrer-policy:",
                       "content-security-policy:"):
            assert header in http_headers, f"{header} missing over HTTP: {http_headers}"
            assert header in https_headers, f"{header} missing over HTTPS: {https_headers}"
        assert "strict-transport-security:" in https_headers, https_headers
        assert "strict-transport-security:" not in http_headers, http_headers

    with subtest("PostgreSQL: the app's role by SCRAM over loopback; nothing else"):
        machine.succeed(
            "PGPASSWORD=${password} psql -h 127.0.0.1 -p ${toString db.port} -U ${db.role} -d ${db.name} "
            "-tAc 'SELECT count(*) FROM items' | grep -qx 1"
        )
        machine.fail(
            "PGPASSWORD=wrong psql -h 127.0.0.1 -p ${toString db.port} -U ${db.role} -d ${db.name} -c 'SELECT 1'"
        )
        machine.succeed("sudo -u postgres psql -tAc 'SHOW password_encryption' | grep -qx scram-sha-256")
        machine.succeed("sudo -u postgres psql -tAc 'SHOW listen_addresses' | grep -qx ${db.listen}")
        hba = machine.succeed("sudo -u postgres psql -tAc 'SELECT auth_method FROM pg_hba_file_rules'")
        assert "trust" not in hba, hba
        listeners = machine.succeed("ss -ltnH 'sport = :${toString db.port}'")
        assert "0.0.0.0:" not in listeners and "*:" not in listeners, listeners

    with subtest("the firewall: 22/80/443 open, the app and PostgreSQL closed from outside"):
        client.wait_for_unit("multi-user.target")
        client.succeed("curl -fsS http://machine${spec.app.health_path}")
        client.succeed("curl -fsSk https://machine${spec.app.health_path}")
        client.succeed("nc -z -w 5 machine ${toString spec.ports.ssh}")
        client.fail("nc -z -w 3 machine ${port}")
        client.fail("nc -z -w 3 machine ${toString db.port}")

    with subtest("sshd is hardened; the deploy user exists, in wheel"):
        sshd = machine.succeed("sshd -T").lower()
        for line in ("permitrootlogin no", "passwordauthentication no", "kbdinteractiveauthentication no"):
            assert line in sshd, f"{line} missing from sshd -T"
        machine.succeed("id -nG ${spec.deploy_user} | grep -qw wheel")

    with subtest("sshd and Nginx use spec.json crypto (suites/test_crypto.py grades them against the baselines)"):
        sshd = machine.succeed("sshd -T")
        for line in ("kexalgorithms ${builtins.concatStringsSep "," spec.crypto.ssh.kex_algorithms}",
                     "ciphers ${builtins.concatStringsSep "," spec.crypto.ssh.ciphers}",
                     "macs ${builtins.concatStringsSep "," spec.crypto.ssh.macs}"):
            assert line in sshd, f"{line} missing from sshd -T"
        machine.succeed("openssl s_client -connect 127.0.0.1:443 -tls1_2 </dev/null")
        machine.fail("openssl s_client -connect 127.0.0.1:443 -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null")
        machine.fail("openssl s_client -connect 127.0.0.1:443 -tls1_2 -cipher ECDHE-RSA-AES128-SHA </dev/null")

    with subtest("the app runs as its own user"):
        machine.succeed("systemctl show -p User --value ${spec.app.name}.service | grep -qx ${spec.app.user}")

    with subtest("the backup service and timer exist"):
        for job in ("base-backup", "pg-dump"):
            machine.succeed(f"systemctl cat ${spec.app.name}-{job}.service")
            machine.succeed(f"systemctl is-enabled ${spec.app.name}-{job}.timer")
            machine.succeed(f"systemctl list-timers --all | grep -q ${spec.app.name}-{job}.timer")
        machine.succeed("runuser -u postgres -- psql -Atc 'SHOW archive_mode' | grep -qx on")
  '';
}
