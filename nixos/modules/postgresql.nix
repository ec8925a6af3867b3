# PostgreSQL for inventory-tracker: localhost only, SCRAM, the app's role and database.
#
# pg_hba has no `trust` line: the superuser connects by peer over the socket, the
# application's role (spec database.role) by scram-sha-256 over loopback TCP.
# The role's password is set from DATABASE_PASSWORD_SCRAM in the application's
# secrets file (a SCRAM-SHA-256 verifier, so the plaintext never reaches
# PostgreSQL or the Nix store) by the oneshot unit inventory-tracker-db-password.
{ config, lib, pkgs, ... }:
let
  spec = import ../spec.nix;
  db = spec.database;
  app = config.services.inventory-tracker;
  pg = config.services.postgresql;
in
{
  config = lib.mkIf app.enable {
    assertions = [
      {
        assertion = db.name == db.role;
        message = "spec.json: database.name and database.role must be equal (ensureDBOwnership needs it)";
      }
    ];

    services.postgresql = {
      enable = true;
      package = lib.mkDefault pkgs.postgresql_16;
      enableTCPIP = false; # listen_addresses = localhost
      settings = {
        listen_addresses = lib.mkForce db.listen;
        port = db.port;
        password_encryption = "scram-sha-256";
        log_connections = true;
      };
      authentication = lib.mkForce ''
        # TYPE  DATABASE      USER          ADDRESS        METHOD
        local   all           postgres                     peer
        host    ${db.name}    ${db.role}    127.0.0.1/32   scram-sha-256
        host    ${db.name}    ${db.role}    ::1/128        scram-sha-256
      '';
      ensureDatabases = [ db.name ];
      ensureUsers = [
        {
          name = db.role;
          ensureDBOwnership = true;
        }
      ];
    };

    # Sets the application role's password from the secrets file, before the app starts.
    systemd.services."${spec.app.name}-db-password" = {
      description = "Set the ${db.role} role's password from ${app.environmentFile}";
      wantedBy = [ "multi-user.target" ];
      requiredBy = [ "${spec.app.name}.service" ];
      before = [ "${spec.app.name}.service" ];
      after = [ "postgresql.service" "postgresql-setup.service" ];
      requires = [ "postgresql.service" ];
      path = [ pg.package ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        User = "postgres";
        Group = "postgres";
        # systemd (root) reads the file; the service only sees the variables.
        EnvironmentFile = app.environmentFile;
      };
      script = ''
        if [ -z "''${DATABASE_PASSWORD_SCRAM:-}" ]; then
          echo "DATABASE_PASSWORD_SCRAM is not set in ${app.environmentFile}: leaving the ${db.role} role's password as it is"
          exit 0
        fi
        # Wait for ensureUsers (postgresql.service's post-start) to have created the role.
        for _ in $(seq 1 60); do
          if psql -p ${toString db.port} -tAc "SELECT 1 FROM pg_roles WHERE rolname = '${db.role}'" | grep -q 1; then
            break
          fi
          sleep 1
        done
        # \getenv keeps the verifier off every command line.
        psql -p ${toString db.port} -v ON_ERROR_STOP=1 -q <<'SQL'
        \getenv verifier DATABASE_PASSWORD_SCRAM
        ALTER ROLE ${db.role} WITH LOGIN PASSWORD :'verifier';
        SQL
        echo "password of role ${db.role} set"
      '';
    };
  };
}
