# Nginx: reverse proxy on 80 and 443 to the application on 127.0.0.1:4000.
#
# 443 uses a self-signed certificate made on the host at first boot (by
# inventory-tracker-selfsigned-cert) unless ACME is enabled, in which case
# Let's Encrypt certifies `domain` and port 80 redirects to 443.
# Security headers on every response; Strict-Transport-Security only over HTTPS.
# TLS protocols, ciphers and curves come from spec.json crypto.tls (the same values as
# the sandbox's site), certified against Mozilla's "intermediate" (suites/crypto_baselines.py).
{ config, lib, pkgs, ... }:
let
  spec = import ../spec.nix;
  tls = spec.crypto.tls;
  app = config.services.inventory-tracker;
  cfg = config.services.inventory-tracker.nginx;
  certDir = "/var/lib/${spec.app.name}-tls";
  upstream = "http://${app.bind}:${toString app.port}";
in
{
  options.services.inventory-tracker.nginx = {
    domain = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "inventory.example.com";
      description = "Public host name; required for ACME. null: any host name (default server).";
    };

    acme = {
      enable = lib.mkEnableOption "a Let's Encrypt certificate for `domain` (instead of the self-signed one)";
      email = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        description = "Contact address for the ACME account.";
      };
    };

    contentSecurityPolicy = lib.mkOption {
      type = lib.types.str;
      default = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self' wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";
      description = "Content-Security-Policy header (LiveView needs connect-src wss: for its socket).";
    };
  };

  config = lib.mkIf app.enable {
    assertions = [
      {
        assertion = cfg.acme.enable -> (cfg.domain != null && cfg.acme.email != null);
        message = "services.inventory-tracker.nginx.acme needs `domain` and `acme.email`";
      }
    ];

    services.nginx = {
      enable = true;
      recommendedProxySettings = true;
      recommendedTlsSettings = true;
      recommendedOptimisation = true;
      recommendedGzipSettings = true;
      serverTokens = false;
      sslProtocols = builtins.concatStringsSep " " tls.protocols;
      sslCiphers = builtins.concatStringsSep ":" tls.ciphers;

      # HSTS only on HTTPS responses: an empty value makes Nginx omit the header.
      appendHttpConfig = ''
        map $scheme $inventory_tracker_hsts {
          https   "max-age=31536000; includeSubDomains";
          default "";
        }

        # A request's id: the client's X-Request-Id, else Nginx's own; passed on, returned, logged.
        map $http_x_request_id $inventory_tracker_request_id {
          default $http_x_request_id;
          ""      $request_id;
        }
        # Access log as JSON lines into the journal (shipped to CloudWatch Logs by ./logs.nix);
        # the same format as the sandbox's site (fixtures/sandbox/templates/nginx-site.conf).
        log_format inventory_tracker_json escape=json '{"time":"$time_iso8601","request_id":"$inventory_tracker_request_id",'
          '"remote_addr":"$remote_addr","method":"$request_method","path":"$request_uri","status":$status,'
          '"bytes_sent":$body_bytes_sent,"request_time":$request_time,"upstream_status":"$upstream_status",'
          '"user_agent":"$http_user_agent","scheme":"$scheme"}';
        access_log syslog:server=unix:/dev/log,tag=nginx,nohostname inventory_tracker_json;
      '';

      virtualHosts.${spec.app.name} = {
        serverName = if cfg.domain != null then cfg.domain else "_";
        default = true;
        # Self-signed: HTTP and HTTPS both served. ACME: HTTP redirects to HTTPS.
        addSSL = !cfg.acme.enable;
        forceSSL = cfg.acme.enable;
        enableACME = cfg.acme.enable;
        sslCertificate = lib.mkIf (!cfg.acme.enable) "${certDir}/cert.pem";
        sslCertificateKey = lib.mkIf (!cfg.acme.enable) "${certDir}/key.pem";
        extraConfig = ''
          ssl_ecdh_curve ${builtins.concatStringsSep ":" tls.curves};
          add_header X-Content-Type-Options "nosniff" always;
          add_header X-Frame-Options "DENY" always;
          add_header Referrer-Policy "no-referrer" always;
          add_header Content-Security-Policy "${cfg.contentSecurityPolicy}" always;
          add_header Strict-Transport-Security $inventory_tracker_hsts always;
          add_header X-Request-Id $inventory_tracker_request_id always;
        '';
        locations."/" = {
          proxyPass = upstream;
          proxyWebsockets = true; # Phoenix LiveView
          extraConfig = ''
            proxy_set_header X-Request-Id $inventory_tracker_request_id;
          '';
        };
      };
    };

    security.acme = lib.mkIf cfg.acme.enable {
      acceptTerms = true;
      defaults.email = cfg.acme.email;
    };

    # The self-signed certificate for 443 (kept across reboots, made once).
    systemd.services."${spec.app.name}-selfsigned-cert" = lib.mkIf (!cfg.acme.enable) {
      description = "Self-signed TLS certificate for Nginx on ${toString spec.ports.https}";
      wantedBy = [ "multi-user.target" ];
      requiredBy = [ "nginx.service" ];
      before = [ "nginx.service" ];
      path = [ pkgs.openssl ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        StateDirectory = "${spec.app.name}-tls";
        StateDirectoryMode = "0750";
        UMask = "0027";
      };
      script = ''
        if [ ! -s ${certDir}/cert.pem ] || [ ! -s ${certDir}/key.pem ]; then
          openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes \
            -subj "/CN=${if cfg.domain != null then cfg.domain else spec.app.name}" \
            -keyout ${certDir}/key.pem -out ${certDir}/cert.pem
        fi
        chgrp ${config.services.nginx.group} ${certDir} ${certDir}/cert.pem ${certDir}/key.pem
        chmod 0640 ${certDir}/key.pem
      '';
    };
  };
}
